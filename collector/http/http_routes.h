// HttpRoutes: the table of GET pages an HttpServer (http_server.h) serves,
// with the request and response types handlers see. Handlers never see the
// HTTP library; adding a page is one Get() call where the server is set up:
//
//   HttpRoutes routes;
//   routes.Get("/", &LeaderboardPage).GetPrefix("/results/", &ResultPage);
//   options.routes = std::move(routes);
//
// Matching: an exact path first, else the longest registered prefix. Paths are
// compared byte for byte after percent-decoding, without the query string; no
// pattern syntax, so no request can make matching slow.
//
// Thread-safety: building (Get, GetPrefix) is not thread-safe. Once built, the
// const methods may run from any number of threads at once, and handlers are
// called concurrently from the server's workers, so they must be thread-safe.
// A handler that throws gets the client a 500 (http_server.h).
//
// Ownership: owns copies of the handlers (std::function; whatever they capture
// must outlive the server serving them).
#ifndef AISCORE_COLLECTOR_HTTP_HTTP_ROUTES_H_
#define AISCORE_COLLECTOR_HTTP_HTTP_ROUTES_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace aiscore::collector {

// What a handler sees of a GET or HEAD request.
struct HttpRequest {
  std::string method;  // "GET" or "HEAD" (the server drops a HEAD's body)
  std::string path;    // percent-decoded, without the query: "/results/ab12"
  std::multimap<std::string, std::string> params;  // decoded query parameters
  std::string remote_addr;  // the peer's IP address, for logs and rate limits
};

// What a handler answers. The server adds Content-Length and connection
// headers; `headers` are extra ones (Cache-Control, Location, ...).
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  // A plain-text response; `body` should end with a newline.
  static HttpResponse Text(int status, std::string body);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpRoutes {
 public:
  // Serves GET and HEAD of exactly `path` ("/healthz").
  HttpRoutes& Get(std::string path, HttpHandler handler);

  // Serves GET and HEAD of every path that starts with `prefix` and is longer
  // than it ("/results/" serves "/results/ab12", not "/results/").
  HttpRoutes& GetPrefix(std::string prefix, HttpHandler handler);

  // OK when every route is well formed: a path that starts with '/', a
  // handler that is not empty, no path or prefix registered twice. Otherwise
  // InvalidArgument naming the first bad route. HttpServer::Start checks it.
  absl::Status Validate() const;

  // The handler for `path`: the exact route, else the longest matching
  // prefix; nullptr when none matches.
  const HttpHandler* Find(std::string_view path) const;

 private:
  std::map<std::string, HttpHandler, std::less<>> exact_;
  std::map<std::string, HttpHandler, std::less<>> prefixes_;
  std::vector<std::string> errors_;  // registration errors, for Validate
};

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_HTTP_HTTP_ROUTES_H_
