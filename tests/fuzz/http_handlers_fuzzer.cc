// libFuzzer target: the collector's HTTP side on arbitrary bytes from one
// client connection (pipelined requests included): the same HttpServer
// aiscore-collector runs (collector/http/http_server.h: httplib's request
// parsing, the limits, the routing, /healthz and /metrics) with the web
// site's pages and JSON API (collector/web/site.h) over a store holding ten
// results (tests/collector/web/seeded_site.h, seeded once per process under
// fixed ids 5eed000000000001 to 5eed00000000000a). HttpServer::ServeBytes
// serves the bytes without a socket.
//
// Every answer must hold, besides no crash, leak or undefined behaviour:
// - the server's bytes are a sequence of well-formed HTTP/1.1 responses, none
//   after one that says "Connection: close";
// - each status is one of 100, 200, 400, 404, 405, 413, 414, 416: never 206
//   (Range is ignored), 500 (a handler threw or failed on a healthy store)
//   nor 503; each Content-Type one the server writes (HTML, JSON, plain
//   text, Prometheus text), so never multipart/byteranges either;
// - HTML is well formed in the pages' own vocabulary: every '<' opens a tag
//   the pages write, attribute values are quoted and hold no '<' or '"', and
//   tags nest and close; so no '<' from the request (path, parameters) or
//   from a stored result reaches a page unescaped;
// - JSON parses; an error is {"error": {"code", "http_status" (= the
//   status), "message"}}.
// The HTML and JSON checks read bodies as the handlers wrote them: not those
// httplib compressed for an Accept-Encoding, nor its 416 for a bad Range.
// A violation aborts with the response that broke it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"
#include "tests/collector/web/seeded_site.h"
#include "tests/fuzz/quiet_protobuf.h"

namespace aiscore {
namespace {

// The site, created by LLVMFuzzerInitialize and destroyed at exit with its
// directory.
std::filesystem::path* site_dir = nullptr;
SeededSite* site = nullptr;

void RemoveSite() {
  delete site;
  site = nullptr;
  std::error_code ignored;
  std::filesystem::remove_all(*site_dir, ignored);
}

// Debian's abseil has its own string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

[[noreturn]] void Fail(std::string_view why, std::string_view response) {
  std::fprintf(stderr, "response (first 4096 bytes):\n%.*s\nhttp_handlers_fuzzer: %.*s\n",
               static_cast<int>(std::min<size_t>(response.size(), 4096)), response.data(),
               static_cast<int>(why.size()), why.data());
  std::abort();
}

struct Response {
  int status = 0;
  std::string content_type;
  bool close = false;     // Connection: close
  bool encoded = false;   // Content-Encoding (gzip, br): the body is compressed
  bool has_body = false;  // false for HEAD and 100 Continue
  std::string_view body;
  std::string_view whole;  // status line to the end of the body
};

// Splits what the server wrote into responses; aborts on anything malformed.
std::vector<Response> ParseResponses(std::string_view out) {
  std::vector<Response> responses;
  while (!out.empty()) {
    Response r;
    const std::string_view start = out;
    const size_t head_end = out.find("\r\n\r\n");
    if (!out.starts_with("HTTP/1.1 ") || head_end == std::string_view::npos || out.size() < 12 ||
        !absl::SimpleAtoi(Absl(out.substr(9, 3)), &r.status) ||
        (out.size() > 12 && out[12] != ' ')) {
      Fail("not an HTTP/1.1 response", out);
    }
    const std::string_view head = out.substr(0, head_end);
    out.remove_prefix(head_end + 4);
    int64_t length = -1;
    size_t line_start = head.find("\r\n");
    while (line_start != std::string_view::npos) {
      line_start += 2;
      const size_t line_end = head.find("\r\n", line_start);
      const std::string_view line = head.substr(line_start, line_end - line_start);
      line_start = line_end;
      const size_t colon = line.find(": ");
      if (colon == std::string_view::npos) Fail("a header line without ': '", start);
      const std::string name = absl::AsciiStrToLower(Absl(line.substr(0, colon)));
      const std::string_view value = line.substr(colon + 2);
      if (name == "content-length" && !absl::SimpleAtoi(Absl(value), &length)) {
        Fail("a bad Content-Length", start);
      }
      if (name == "content-type") r.content_type = std::string(value);
      if (name == "content-encoding") r.encoded = true;
      if (name == "connection" && absl::EqualsIgnoreCase(Absl(value), "close")) r.close = true;
    }
    // A HEAD answer carries the GET's Content-Length and no body; no body
    // this server writes starts like a status line.
    if (length > 0 && !out.starts_with("HTTP/1.1 ") && !out.empty()) {
      if (static_cast<size_t>(length) > out.size()) Fail("a body shorter than announced", start);
      r.has_body = true;
      r.body = out.substr(0, static_cast<size_t>(length));
      out.remove_prefix(static_cast<size_t>(length));
    } else if (length == 0) {
      r.has_body = true;
    }
    r.whole = start.substr(0, start.size() - out.size());
    if (!responses.empty() && responses.back().close) {
      Fail("a response after Connection: close", r.whole);
    }
    responses.push_back(r);
  }
  return responses;
}

// What the server answers: pages, JSON, text, /metrics.
const std::set<std::string, std::less<>> kContentTypes = {
    "text/html; charset=utf-8", "application/json", "text/plain; charset=utf-8",
    collector::kPrometheusContentType};

// The elements the pages write (collector/web), and those that never close.
const std::set<std::string, std::less<>> kElements = {
    "html", "head",     "meta", "link", "title", "style", "body",   "header", "main",
    "a",    "h1",       "h2",   "p",    "div",   "span",  "table",  "thead",  "tbody",
    "tr",   "th",       "td",   "form", "label", "input", "select", "option", "button",
    "code", "datalist", "svg",  "rect", "line",  "text"};
const std::set<std::string, std::less<>> kVoidElements = {"meta", "link", "input"};

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' ||
         c == '.';
}

// Checks the HTML rules above; aborts naming the offset of the first breach.
void CheckHtml(std::string_view html, std::string_view whole) {
  constexpr std::string_view kDoctype = "<!doctype html>\n";
  if (!html.starts_with(kDoctype)) Fail("HTML without the doctype", whole);
  std::vector<std::string_view> open;
  size_t i = kDoctype.size();
  const auto fail = [&](std::string_view why) {
    Fail(std::string(why) + " at byte " + std::to_string(i) + " of the body: \"" +
             std::string(html.substr(i, 80)) + "\"",
         whole);
  };
  while ((i = html.find('<', i)) != std::string_view::npos) {
    const bool closing = html.substr(i).starts_with("</");
    size_t j = i + (closing ? 2 : 1);
    const size_t name_start = j;
    while (j < html.size() && absl::ascii_isalnum(static_cast<unsigned char>(html[j]))) ++j;
    const std::string_view name = html.substr(name_start, j - name_start);
    if (!kElements.contains(name)) fail("a '<' that opens no element of the pages");
    // An <option> may go unclosed (the datalist's): the next option or the
    // end of its list closes it.
    if (!open.empty() && open.back() == "option" &&
        (closing ? name != "option" : name == "option")) {
      open.pop_back();
    }
    if (closing) {
      if (j >= html.size() || html[j] != '>') fail("a bad closing tag");
      if (open.empty() || open.back() != name) fail("a closing tag that closes nothing open");
      open.pop_back();
      i = j + 1;
      continue;
    }
    bool self_closed = false;
    for (;;) {  // attributes
      while (j < html.size() && html[j] == ' ') ++j;
      if (j >= html.size()) fail("a tag that does not end");
      if (html[j] == '>') break;
      if (html.substr(j).starts_with("/>")) {
        self_closed = true;
        ++j;
        break;
      }
      const size_t attr = j;
      while (j < html.size() && IsNameChar(html[j])) ++j;
      if (j == attr) fail("a bad attribute name");
      if (j < html.size() && html[j] == '=') {
        if (j + 1 >= html.size() || html[j + 1] != '"') fail("an unquoted attribute value");
        const size_t end = html.find('"', j + 2);
        if (end == std::string_view::npos) fail("an attribute value that does not end");
        if (html.substr(j + 2, end - j - 2).find('<') != std::string_view::npos) {
          fail("a '<' in an attribute value");
        }
        j = end + 1;
      }
    }
    i = j + 1;
    if (name == "style") {  // raw text up to its end tag
      const size_t end = html.find("</style>", i);
      if (end == std::string_view::npos) fail("a style that does not end");
      i = end + 8;
      continue;
    }
    if (!self_closed && !kVoidElements.contains(name)) open.push_back(name);
  }
  if (!open.empty()) {
    i = html.size();
    fail("elements left open: <" + std::string(open.back()) + ">");
  }
}

void CheckJson(const Response& r) {
  const nlohmann::json json = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) Fail("JSON that does not parse", r.whole);
  if (r.status == 200) return;
  const auto error = json.find("error");
  if (error == json.end() || !error->is_object() || !error->contains("code") ||
      !(*error)["code"].is_string() || !error->contains("message") ||
      !(*error)["message"].is_string() || !error->contains("http_status") ||
      (*error)["http_status"] != r.status) {
    Fail("a JSON error without code, message and its http_status", r.whole);
  }
}

}  // namespace
}  // namespace aiscore

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace aiscore;
  SilenceProtobufLogs();
  std::string dir = (std::filesystem::temp_directory_path() / "aiscore-http-fuzz-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    std::perror("http_handlers_fuzzer: mkdtemp");
    std::abort();
  }
  site_dir = new std::filesystem::path(dir);
  absl::StatusOr<std::unique_ptr<SeededSite>> created = SeededSite::Create(*site_dir);
  if (!created.ok()) {
    std::fprintf(stderr, "http_handlers_fuzzer: cannot seed the site: %s\n",
                 created.status().ToString().c_str());
    std::abort();
  }
  site = created->release();
  std::atexit(RemoveSite);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aiscore;
  const std::string out = site->Serve(std::string_view(reinterpret_cast<const char*>(data), size));
  for (const Response& r : ParseResponses(out)) {
    switch (r.status) {
      case 100:
      case 200:
      case 400:
      case 404:
      case 405:
      case 413:
      case 414:
      case 416:
        break;
      default:
        Fail("an unexpected status", r.whole);
    }
    // The checks below are of the handlers' bodies as written: not of
    // httplib's answer to a Range it cannot parse (416), nor of a body it
    // compressed for an Accept-Encoding (the same request without one is
    // checked).
    if (r.status != 100 && !kContentTypes.contains(r.content_type)) {
      Fail("a Content-Type the server does not write", r.whole);
    }
    if (!r.has_body || r.encoded || r.status == 100 || r.status == 416) {
      continue;
    }
    if (r.content_type.starts_with("text/html")) CheckHtml(r.body, r.whole);
    if (r.content_type == "application/json") CheckJson(r);
  }
  return 0;
}
