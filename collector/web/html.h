// HTML for the collector's web pages (collector/web): escaping of every value
// that comes from a submission, query-string building, number formatting and
// the page shell (inline styles, no scripts, no external resources) every
// page is wrapped in.
//
// Everything here is a pure function of its arguments: thread-safe.
#ifndef AISCORE_COLLECTOR_WEB_HTML_H_
#define AISCORE_COLLECTOR_WEB_HTML_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collector/http/http_routes.h"

namespace aiscore::collector::web {

// `text` as HTML text or attribute value: & < > " ' become entities; bytes
// that are not valid UTF-8 and control characters other than tab and newline
// (NUL included) become U+FFFD, so no submitted string can become markup or
// break the page's encoding.
std::string Escape(std::string_view text);

// Whether `text` is valid UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF).
bool IsValidUtf8(std::string_view text);

// `text` percent-encoded for a URL path segment or query value: every byte
// but A-Z a-z 0-9 - . _ ~ becomes %XX.
std::string UrlEncode(std::string_view text);

// "?a=1&b=x%20y" from the pairs whose value is not empty ("" when none).
// Escape() the result before putting it in an attribute.
std::string QueryString(const std::vector<std::pair<std::string, std::string>>& params);

// The first value of query parameter `name`, or `fallback`.
std::string Param(const HttpRequest& request, const std::string& name,
                  const std::string& fallback = "");

// `value` with `digits` decimals ("12345.6"); "–" for NaN or infinity.
std::string FormatNumber(double value, int digits = 0);
// `value` with 3 significant digits ("0.0123", "45.6"), whole from 1000 to
// 1e9 ("12346"), in exponent form beyond ("1.23e+09").
std::string FormatSignificant(double value);
// Bytes in GiB with one decimal ("7.5 GiB").
std::string FormatGib(double bytes);
// Microseconds since the Unix epoch as "2026-11-21 14:03 UTC".
std::string FormatTime(int64_t unix_us);

// Links of the site, built the same way everywhere.
std::string GpuPath(std::string_view gpu, std::string_view backend);  // "/gpu/NAME?backend=B"
std::string ResultPath(std::string_view id);                          // "/result/ID"

// A complete page: doctype, UTF-8, title "`title` · aiscore", the inline
// style sheet, the navigation bar and `body` (already HTML). 200 unless said.
HttpResponse HtmlPage(const std::string& title, const std::string& body, int status = 200);

// An error page saying `message` (escaped here) with `status`.
HttpResponse ErrorPage(int status, const std::string& message);

// The Content-Security-Policy every page is served with: nothing may load
// from anywhere, no script may run; inline styles and forms to this site only.
inline constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'";

}  // namespace aiscore::collector::web

#endif  // AISCORE_COLLECTOR_WEB_HTML_H_
