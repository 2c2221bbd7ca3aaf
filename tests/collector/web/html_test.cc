// Tests of collector/web/html.h and svg_chart.h: escaping of hostile strings,
// URL building, number formats and the charts' arithmetic.
#include "collector/web/html.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "collector/web/svg_chart.h"

namespace aiscore::collector::web {
namespace {

TEST(HtmlTest, EscapeTurnsMarkupIntoText) {
  EXPECT_EQ(Escape("<script>alert(\"x\")</script>"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
  EXPECT_EQ(Escape("a & b 'c'"), "a &amp; b &#39;c&#39;");
  EXPECT_EQ(Escape("tab\there\nnewline"), "tab\there\nnewline");
  EXPECT_EQ(Escape("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
}

TEST(HtmlTest, EscapeReplacesInvalidUtf8AndControlCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(Escape(std::string("a\0b", 3)), "a" + fffd + "b");
  EXPECT_EQ(Escape("\x01\x7F"), fffd + fffd);
  EXPECT_EQ(Escape("\xFF"), fffd);                                   // never a UTF-8 byte
  EXPECT_EQ(Escape("\xC3"), fffd);                                   // truncated sequence
  EXPECT_EQ(Escape("\xC0\xBC"), fffd + fffd);                        // overlong '<'
  EXPECT_EQ(Escape("\xED\xA0\x80"), fffd + fffd + fffd);             // a surrogate
  EXPECT_EQ(Escape("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // past U+10FFFF
}

// Whatever bytes come in, the output holds no markup character and is valid UTF-8.
TEST(HtmlTest, EscapeOfRandomBytesIsInertValidUtf8) {
  std::mt19937_64 rng(20261121);
  for (int round = 0; round < 2000; ++round) {
    std::string in(rng() % 64, '\0');
    for (char& c : in) c = static_cast<char>(rng());
    const std::string out = Escape(in);
    EXPECT_EQ(out.find_first_of("<>\"'"), std::string::npos);
    // Every & starts an entity this function writes.
    for (size_t i = out.find('&'); i != std::string::npos; i = out.find('&', i + 1)) {
      const std::string rest = out.substr(i, 6);
      EXPECT_TRUE(rest.rfind("&amp;", 0) == 0 || rest.rfind("&lt;", 0) == 0 ||
                  rest.rfind("&gt;", 0) == 0 || rest.rfind("&quot;", 0) == 0 ||
                  rest.rfind("&#39;", 0) == 0)
          << rest;
    }
    EXPECT_EQ(Escape(out), Escape(out));  // deterministic
    // Valid UTF-8: escaping again changes only the entities' ampersands.
    std::string again = Escape(out);
    EXPECT_EQ(again.find("\xEF\xBF\xBD") == std::string::npos,
              out.find("\xEF\xBF\xBD") == std::string::npos);
  }
}

TEST(HtmlTest, UrlsAndQueries) {
  EXPECT_EQ(UrlEncode("NVIDIA GeForce RTX 4090"), "NVIDIA%20GeForce%20RTX%204090");
  EXPECT_EQ(UrlEncode("a/b?c=d&e#f"), "a%2Fb%3Fc%3Dd%26e%23f");
  EXPECT_EQ(UrlEncode("-._~"), "-._~");
  EXPECT_EQ(QueryString({{"a", "1"}, {"b", ""}, {"c", "x y"}}), "?a=1&c=x%20y");
  EXPECT_EQ(QueryString({{"a", ""}}), "");
  EXPECT_EQ(GpuPath("CPU: AMD EPYC", "cpu"), "/gpu/CPU%3A%20AMD%20EPYC?backend=cpu");
  EXPECT_EQ(ResultPath("0123abcd"), "/result/0123abcd");
}

TEST(HtmlTest, NumbersAndTimes) {
  EXPECT_EQ(FormatNumber(1234.56, 1), "1234.6");
  EXPECT_EQ(FormatNumber(NAN, 1), "\xE2\x80\x93");
  EXPECT_EQ(FormatNumber(INFINITY), "\xE2\x80\x93");
  EXPECT_EQ(FormatSignificant(0.012345), "0.0123");
  EXPECT_EQ(FormatGib(8.0 * 1024 * 1024 * 1024), "8.0 GiB");
  EXPECT_EQ(FormatTime(1795000000LL * 1000000), "2026-11-18 11:06 UTC");
}

TEST(HtmlTest, PagesCarryTheSecurityHeadersAndEscapeTheirTitle) {
  HttpResponse page = HtmlPage("<b>t</b>", "<p>body</p>");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>&lt;b&gt;t&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(page.body.find("<p>body</p>"), std::string::npos);
  EXPECT_EQ(page.body.find("<script"), std::string::npos);
  bool csp = false;
  for (const auto& [name, value] : page.headers) csp |= name == "Content-Security-Policy";
  EXPECT_TRUE(csp);
  HttpResponse error = ErrorPage(404, "no <GPU>");
  EXPECT_EQ(error.status, 404);
  EXPECT_NE(error.body.find("no &lt;GPU&gt;"), std::string::npos);
}

TEST(SvgChartTest, HistogramCountsEveryFiniteValueOnce) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(1000, 150);
  for (int n : {1, 2, 17, 1000}) {
    std::vector<double> values;
    for (int i = 0; i < n; ++i) values.push_back(normal(rng));
    values.push_back(NAN);
    const Histogram h = MakeHistogram(values, 12);
    int64_t total = 0;
    for (int64_t c : h.counts) total += c;
    EXPECT_EQ(total, n);
    EXPECT_EQ(h.counts.size(), n == 1 ? 1u : 12u);
    if (n > 1) {
      // Each value lies in its bin (the maximum in the last, closed one).
      for (double v : values) {
        if (std::isnan(v)) continue;
        const size_t i = std::min(static_cast<size_t>((v - h.lo) / h.width), h.counts.size() - 1);
        EXPECT_GE(v, h.lo + h.width * static_cast<double>(i) - 1e-9);
      }
    }
  }
  EXPECT_TRUE(MakeHistogram(std::vector<double>{}, 10).counts.empty());
  const Histogram same = MakeHistogram(std::vector<double>{5, 5, 5}, 10);
  ASSERT_EQ(same.counts.size(), 1u);
  EXPECT_EQ(same.counts[0], 3);
}

TEST(SvgChartTest, ChartsEscapeLabelsAndStayWellFormed) {
  const std::string h = HistogramSvg(MakeHistogram(std::vector<double>{1, 2, 3}, 3), "<x>");
  EXPECT_NE(h.find("&lt;x&gt;"), std::string::npos);
  EXPECT_EQ(h.rfind("<svg", 0), 0u);
  EXPECT_EQ(h.substr(h.size() - 6), "</svg>");
  const std::string bars =
      GroupedBarsSvg({"f16", "<q>"}, {{"measured", "#000", {1, NAN}}}, "tok/s");
  EXPECT_NE(bars.find("&lt;q&gt;"), std::string::npos);
  EXPECT_EQ(bars.find("nan"), std::string::npos);
  const std::string range = RangeSvg(5, 4, 6, 10);
  EXPECT_NE(range.find("aria-label=\"5 (4 to 6)\""), std::string::npos);
}

}  // namespace
}  // namespace aiscore::collector::web
