#include "collector/web/html.h"

#include <cctype>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace aiscore::collector::web {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// The length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t Utf8Length(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = byte(0);
  size_t n = 0;
  uint32_t min = 0;
  uint32_t code = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2, min = 0x80, code = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, min = 0x800, code = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, min = 0x10000, code = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  // Overlong forms, surrogates and code points past Unicode are not valid.
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return n;
}

constexpr char kStyle[] = R"css(
:root{color-scheme:light;--fg:#1d2330;--muted:#5b6475;--line:#d9dee7;--accent:#2357c6;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:baseline}
header a{color:#fff;text-decoration:none}
header .brand{font-weight:700;font-size:1.1rem}
main{max-width:1400px;margin:0 auto;padding:1rem 1.2rem 3rem}
h1{font-size:1.5rem;margin:.4rem 0 .8rem}
h2{font-size:1.15rem;margin:1.6rem 0 .6rem}
a{color:var(--accent)}
table{border-collapse:collapse;background:#fff;width:100%;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f6;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
.scroll{overflow-x:auto}
.muted{color:var(--muted)}
.ok{color:#1a7f37}.bad{color:#b42318}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin:.4rem 0 1rem}
form label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted)}
input,select,button{font:inherit;padding:.25rem .4rem}
.pager{display:flex;gap:1rem;margin:.8rem 0}
.cards{display:flex;flex-wrap:wrap;gap:1rem}
.card{background:#fff;border:1px solid var(--line);padding:.6rem .9rem;min-width:10rem}
.card .v{font-size:1.4rem;font-weight:650}
.samples{font-size:.85rem;color:var(--muted);word-break:break-word}
svg{display:block;max-width:100%}
)css";

}  // namespace

bool IsValidUtf8(std::string_view text) {
  while (!text.empty()) {
    const size_t n = Utf8Length(text);
    if (n == 0) return false;
    text.remove_prefix(n);
  }
  return true;
}

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const size_t n = Utf8Length(text);
    if (n == 0) {
      out += kReplacement;
      text.remove_prefix(1);
      continue;
    }
    if (n == 1) {
      const char c = text[0];
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
            out += kReplacement;
          } else {
            out += c;
          }
      }
    } else {
      out.append(text.substr(0, n));
    }
    text.remove_prefix(n);
  }
  return out;
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      absl::StrAppendFormat(&out, "%%%02X", u);
    }
  }
  return out;
}

std::string QueryString(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    absl::StrAppend(&out, out.empty() ? "?" : "&", UrlEncode(name), "=", UrlEncode(value));
  }
  return out;
}

std::string Param(const HttpRequest& request, const std::string& name,
                  const std::string& fallback) {
  auto it = request.params.find(name);
  return it == request.params.end() ? fallback : it->second;
}

std::string FormatNumber(double value, int digits) {
  if (!std::isfinite(value)) return "\xE2\x80\x93";  // en dash
  return absl::StrFormat("%.*f", digits, value);
}

std::string FormatSignificant(double value) {
  if (!std::isfinite(value)) return "\xE2\x80\x93";
  if (std::fabs(value) >= 1000 && std::fabs(value) < 1e9) return absl::StrFormat("%.0f", value);
  return absl::StrFormat("%.3g", value);
}

std::string FormatGib(double bytes) {
  return absl::StrCat(FormatNumber(bytes / (1024.0 * 1024.0 * 1024.0), 1), " GiB");
}

std::string FormatTime(int64_t unix_us) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::FromUnixMicros(unix_us), absl::UTCTimeZone());
}

std::string GpuPath(std::string_view gpu, std::string_view backend) {
  return absl::StrCat("/gpu/", UrlEncode(gpu), QueryString({{"backend", std::string(backend)}}));
}

std::string ResultPath(std::string_view id) { return absl::StrCat("/result/", UrlEncode(id)); }

HttpResponse HtmlPage(const std::string& title, const std::string& body, int status) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.body = absl::StrCat(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<link rel=\"icon\" href=\"data:,\"><title>",
      Escape(title), " \xC2\xB7 aiscore</title><style>", kStyle,
      "</style></head><body><header><a class=\"brand\" href=\"/\">aiscore</a>"
      "<a href=\"/\">Leaderboard</a><a href=\"/predict\">Predict</a>"
      "<a href=\"/api/v1/gpus\">API</a></header><main>\n",
      body, "\n</main></body></html>\n");
  return r;
}

HttpResponse ErrorPage(int status, const std::string& message) {
  return HtmlPage(absl::StrCat("Error ", status),
                  absl::StrCat("<h1>Error ", status, "</h1><p id=\"error\">", Escape(message),
                               "</p><p><a href=\"/\">Back to the leaderboard</a></p>"),
                  status);
}

}  // namespace aiscore::collector::web
