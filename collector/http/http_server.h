// HttpServer: the collector's HTTP side (`aiscore-collector --http ADDR`): a
// small HTTP/1.1 server (cpp-httplib underneath) for operators and, later,
// web pages. Built-in routes:
//   GET /healthz  200 "ok\n" when the health callback returns OK, else 503
//                 with the status message (text/plain)
//   GET /metrics  200 text/plain; version=0.0.4; charset=utf-8, the metrics
//                 callback's text (CollectorMetrics::RenderPrometheus)
// plus the GET routes of Options::routes (http_routes.h). HEAD is answered
// like GET without the body. Any other path is 404, any other method 405
// (with "Allow: GET, HEAD"); error responses carry a short text body.
//
// Limits (Options): a fixed pool of worker threads, each serving one
// connection at a time; up to 64 accepted connections wait for a worker, and
// beyond that new ones wait in the kernel's backlog (so slow clients cannot
// take the process's file descriptors). Read and write timeouts apply to each
// read and write; a connection is shut down once a worker has served it for
// connection_deadline, however it trickles its bytes; an idle connection
// waits keep_alive_timeout for its next request (also for its first); a
// connection serves at most keep_alive_max_requests. A request body larger
// than max_payload_bytes is answered 413, a request line over 8 KiB 414, a
// malformed request 400, a GET or HEAD announcing a body 400; after each of
// these, and after any request whose body httplib 0.11.4 leaves unread
// (OPTIONS, TRACE), the connection closes, so leftover bytes are never read
// as a next request. Range headers are ignored: a response is always whole.
// No request can crash the server: a throwing handler answers 500, and
// Start() ignores SIGPIPE process-wide (a peer that hangs up mid-response
// fails that write only; gRPC and httplib do the same).
//
// Without a socket: Unbound() sets up the same server without binding, and
// ServeBytes() answers what one connection's client sent, so the fuzz target
// (tests/fuzz/http_handlers_fuzzer.cc) and tests drive the request parsing,
// the routing and the handlers in process.
//
// Lifetime: Start() binds and serves on a thread of its own before it returns.
// Stop() closes the listener, lets in-flight requests finish (a worker idle
// in keep-alive notices within keep_alive_timeout) and joins every thread; the
// destructor calls it. The callbacks and handlers are called from the workers
// until Stop() returns, so what they capture must outlive that.
//
// Thread-safety: port() and address() may be called from any thread; Stop()
// too, any number of times (later calls wait for the first to finish).
#ifndef AISCORE_COLLECTOR_HTTP_HTTP_SERVER_H_
#define AISCORE_COLLECTOR_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/http/http_routes.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace aiscore::collector {

// The Content-Type of GET /metrics.
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

class HttpServer {
 public:
  struct Options {
    // Pages beside the built-in ones; registering /healthz or /metrics here
    // is an error.
    HttpRoutes routes;
    // GET /healthz: OK or why not. Empty: always healthy.
    std::function<absl::Status()> health;
    // GET /metrics: the exposition text. Empty: no /metrics route (404).
    std::function<std::string()> metrics;

    int worker_threads = 4;                                  // connections served at once, >= 1
    absl::Duration read_timeout = absl::Seconds(5);          // per read of a request
    absl::Duration write_timeout = absl::Seconds(5);         // per write of a response
    absl::Duration keep_alive_timeout = absl::Seconds(2);    // idle wait for a request
    absl::Duration connection_deadline = absl::Seconds(60);  // a connection's whole life
    size_t keep_alive_max_requests = 100;                    // requests per connection
    size_t max_payload_bytes = 64 * 1024;                    // request body; larger: 413
  };

  // Binds `listen` ("HOST:PORT", "[IPV6]:PORT"; PORT 0 picks a free port) and
  // serves on it. InvalidArgument for a malformed address, a host that does
  // not resolve, bad routes or bad limits; Unavailable when the address
  // cannot be bound (in use, not local, not permitted), naming it.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(std::string_view listen,
                                                           Options options);

  // A server set up like Start()'s (the same option checks, routes and
  // request handling) that binds nothing: it serves only ServeBytes().
  static absl::StatusOr<std::unique_ptr<HttpServer>> Unbound(Options options);

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // The port bound (the one picked when `listen` asked for 0).
  int port() const { return port_; }

  // HOST:PORT as bound: the host as given ("[::1]" with brackets), the port
  // actually bound. For logs ("http on 127.0.0.1:38411") and tests.
  std::string address() const;

  // Stops serving and joins the server's threads; see Lifetime above.
  void Stop();

  // Serves one connection whose client sent `input` and then closed its side:
  // requests are read from `input` in turn (pipelined) and answered as on a
  // socket (the same parsing, limits, routes, keep-alive cap and closing
  // rules), without timeouts, until the input ends or the connection would
  // close. Returns every byte the server wrote. Thread-safe, like the
  // workers; works on any server, bound or not.
  std::string ServeBytes(std::string_view input) const;

 private:
  HttpServer(Options options, std::string host);

  // Checks `options` and sets up a server with the request handling every
  // server shares; binds nothing.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(Options options, std::string host);

  // The response to a GET or HEAD without a body: a built-in route, then
  // options_.routes, else 404. Runs on the workers.
  HttpResponse Dispatch(const HttpRequest& request) const;

  const Options options_;
  const std::string host_;  // as it appears in address(): brackets kept
  int port_ = -1;           // set by Start() before any other thread sees it
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;                    // runs httplib's accept loop
  std::atomic<bool> listener_done_{false};  // the accept loop has returned
  std::mutex stop_mutex_;                   // serializes Stop()
};

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_HTTP_HTTP_SERVER_H_
