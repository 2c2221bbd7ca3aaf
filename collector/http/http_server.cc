#include "collector/http/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/http/listen_address.h"

namespace aiscore::collector {
namespace {

using HandlerResponse = httplib::Server::HandlerResponse;

constexpr char kTextPlain[] = "text/plain; charset=utf-8";
constexpr int kMaxWorkerThreads = 256;
constexpr int kMaxQueuedConnections = 64;  // accepted, waiting for a worker
constexpr int kListenBacklog = 128;        // httplib 0.11.4 listens with a backlog of 5

// httplib's task queue with a cap on waiting connections: each queued job
// holds an accepted socket, so an unbounded queue lets slow clients take every
// file descriptor of the process (the gRPC side's and SQLite's too). When the
// queue is full, enqueue() blocks the listener, so further connections wait in
// the kernel's accept backlog instead. Workers drain the queue in FIFO order.
class BoundedTaskQueue final : public httplib::TaskQueue {
 public:
  BoundedTaskQueue(int threads, size_t max_queued) : max_queued_(max_queued) {
    workers_.reserve(threads);
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }

  ~BoundedTaskQueue() override {
    if (!workers_.empty()) shutdown();
  }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mutex_);
    has_room_.wait(lock, [this] { return jobs_.size() < max_queued_; });
    jobs_.push_back(std::move(fn));
    has_job_.notify_one();
  }

  // Runs every queued job, then joins the workers.
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shutting_down_ = true;
    }
    has_job_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        has_job_.wait(lock, [this] { return !jobs_.empty() || shutting_down_; });
        if (jobs_.empty()) return;  // shutting down, nothing left
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      has_room_.notify_one();
      job();
    }
  }

  const size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable has_job_;
  std::condition_variable has_room_;
  std::deque<std::function<void()>> jobs_;
  bool shutting_down_ = false;
  std::vector<std::thread> workers_;
};

using Clock = std::chrono::steady_clock;

// The milliseconds poll() may wait: `timeout`, cut to what is left before
// `deadline`; 0 once it has passed.
int PollMillis(absl::Duration timeout, Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  const int64_t wait = std::min<int64_t>(absl::ToInt64Milliseconds(timeout), left);
  return static_cast<int>(std::clamp<int64_t>(wait, 0, 1 << 30));
}

// True when `sock` has `events` within the wait PollMillis allows.
bool WaitFor(int sock, short events, absl::Duration timeout, Clock::time_point deadline) {
  for (;;) {
    pollfd fd{sock, events, 0};
    const int n = poll(&fd, 1, PollMillis(timeout, deadline));
    if (n < 0 && errno == EINTR) continue;
    return n > 0 && (fd.revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

std::string AddressText(const sockaddr_storage& address, int* port) {
  char text[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
    *port = ntohs(v4.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    *port = ntohs(v6.sin6_port);
  }
  return text;
}

// One connection's stream for httplib's request parser: reads and writes
// wait at most their timeout, and never past the connection's deadline, so a
// client that trickles bytes loses its worker at the deadline.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int sock, const HttpServer::Options& options, Clock::time_point deadline)
      : sock_(sock), options_(options), deadline_(deadline) {}

  bool is_readable() const override {
    return WaitFor(sock_, POLLIN, options_.read_timeout, deadline_);
  }
  bool is_writable() const override {
    return WaitFor(sock_, POLLOUT, options_.write_timeout, deadline_);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (buffered_ == consumed_) {
      if (!is_readable()) return -1;
      ssize_t n;
      do {
        n = recv(sock_, buffer_, sizeof(buffer_), 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      buffered_ = static_cast<size_t>(n);
      consumed_ = 0;
    }
    const size_t n = std::min(size, buffered_ - consumed_);
    std::memcpy(ptr, buffer_ + consumed_, n);
    consumed_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (getpeername(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      ip = AddressText(address, &port);
    }
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (getsockname(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      ip = AddressText(address, &port);
    }
  }
  socket_t socket() const override { return sock_; }

  // Whether bytes received are still waiting to be read.
  bool has_buffered() const { return consumed_ < buffered_; }

 private:
  const int sock_;
  const HttpServer::Options& options_;
  const Clock::time_point deadline_;
  char buffer_[4096];  // bytes received, [consumed_, buffered_) not yet read
  size_t buffered_ = 0;
  size_t consumed_ = 0;
};

// A connection's stream without a socket (HttpServer::ServeBytes): reads
// `input`, then end of stream; collects what is written.
class MemoryStream final : public httplib::Stream {
 public:
  explicit MemoryStream(std::string_view input) : input_(input) {}

  bool is_readable() const override { return !input_.empty(); }
  bool is_writable() const override { return true; }

  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, input_.size());
    std::memcpy(ptr, input_.data(), n);
    input_.remove_prefix(n);
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    output_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 0;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 0;
  }
  socket_t socket() const override { return INVALID_SOCKET; }

  // Whether input is left to read.
  bool has_buffered() const { return !input_.empty(); }
  std::string& output() { return output_; }

 private:
  std::string_view input_;  // not yet read
  std::string output_;      // written so far
};

bool IsGetOrHead(const std::string& method) { return method == "GET" || method == "HEAD"; }

// Whether a request announces a body.
bool HasBody(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  const std::string length = req.get_header_value("Content-Length");
  return !length.empty() && length != "0";
}

// Whether a request announces a body httplib 0.11.4 leaves unread: it reads
// bodies of POST, PUT, PATCH and DELETE only.
bool HasUnreadBody(const httplib::Request& req) {
  const std::string& m = req.method;
  return HasBody(req) && m != "POST" && m != "PUT" && m != "PATCH" && m != "DELETE";
}

// Set while a worker writes a response after which its connection must
// close: the request was malformed, too large, or left a body unread, so the
// bytes that follow cannot be trusted to start the next request.
thread_local bool t_close_connection = false;

// httplib::Server with its listening socket in view (to raise the backlog)
// and its own connection loop: httplib's timeouts are per read, so without a
// deadline a client sending a byte every few seconds would hold a worker
// forever.
class ListeningServer final : public httplib::Server {
 public:
  explicit ListeningServer(const HttpServer::Options& options) : options_(options) {}

  socket_t listening_socket() const { return svr_sock_; }

  // HttpServer::ServeBytes: the connection loop below on `input`.
  std::string ServeBytes(std::string_view input) {
    MemoryStream stream(input);
    ServeRequests(stream, [&stream] { return stream.has_buffered(); });
    return std::move(stream.output());
  }

 private:
  // Runs on a worker for each accepted connection: requests until the client
  // closes, stays idle past keep_alive_timeout, reaches the request cap or
  // the deadline, or the server stops.
  bool process_and_close_socket(socket_t sock) override {
    const Clock::time_point deadline =
        Clock::now() + absl::ToChronoMilliseconds(options_.connection_deadline);
    // One stream for the connection: its buffer may already hold the next
    // (pipelined) request.
    DeadlineStream stream(sock, options_, deadline);
    const bool ok = ServeRequests(stream, [&] {
      return svr_sock_ != INVALID_SOCKET &&
             (stream.has_buffered() ||
              WaitFor(sock, POLLIN, options_.keep_alive_timeout, deadline));
    });
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return ok;
  }

  // Answers requests from `stream` while `more_requests()` says another may
  // follow, up to keep_alive_max_requests, until one fails to parse or its
  // answer closes the connection. Whether the last request was served.
  template <typename MoreRequests>
  bool ServeRequests(httplib::Stream& stream, MoreRequests more_requests) {
    // Range is ignored (RFC 9110 allows it): httplib 0.11.4 answers any number
    // of ranges, overlapping ones included, each with its own copy of the body,
    // so "Range: bytes=0-,0-,..." in an 8 KiB header made one page thousands of
    // times its size in memory and on the wire. Pages are small and dynamic;
    // the whole body is sent. A Range httplib cannot parse is still 416.
    static const std::function<void(httplib::Request&)> ignore_ranges =
        [](httplib::Request& request) { request.ranges.clear(); };
    bool ok = false;
    for (size_t left = options_.keep_alive_max_requests; left > 0 && more_requests(); --left) {
      bool connection_closed = false;
      t_close_connection = false;
      ok =
          process_request(stream, /*close_connection=*/left == 1, connection_closed, ignore_ranges);
      if (!ok || connection_closed || t_close_connection) break;
    }
    return ok;
  }

  const HttpServer::Options& options_;
};

// InvalidArgument when `host` does not resolve to an address to listen on.
absl::Status CheckResolves(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  const int error = getaddrinfo(host.c_str(), "0", &hints, &result);
  if (error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen host \"", host, "\" does not resolve: ", gai_strerror(error)));
  }
  freeaddrinfo(result);
  return absl::OkStatus();
}

absl::Status CheckOptions(const HttpServer::Options& options) {
  if (options.worker_threads < 1 || options.worker_threads > kMaxWorkerThreads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP worker_threads must be 1 to ", kMaxWorkerThreads, ", not ", options.worker_threads));
  }
  if (options.read_timeout <= absl::ZeroDuration() ||
      options.write_timeout <= absl::ZeroDuration() ||
      options.keep_alive_timeout < absl::ZeroDuration() ||
      options.connection_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HTTP timeouts must be positive");
  }
  if (options.keep_alive_max_requests < 1) {
    return absl::InvalidArgumentError("HTTP keep_alive_max_requests must be at least 1");
  }
  if (absl::Status routes = options.routes.Validate(); !routes.ok()) return routes;
  for (const char* builtin : {"/healthz", "/metrics"}) {
    if (options.routes.Find(builtin) != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("HTTP route ", builtin, " is built in and cannot be registered"));
    }
  }
  return absl::OkStatus();
}

// Seconds and microseconds of `d`, as httplib's setters take them.
std::pair<time_t, time_t> SecondsAndMicros(absl::Duration d) {
  const int64_t seconds = absl::ToInt64Seconds(d);
  const int64_t micros = absl::ToInt64Microseconds(d - absl::Seconds(seconds));
  return {static_cast<time_t>(seconds), static_cast<time_t>(micros)};
}

// A short reason phrase for the errors httplib answers by itself.
std::string_view ErrorReason(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 404:
      return "not found";
    case 413:
      return "request body too large";
    case 414:
      return "request line too long";
    case 416:
      return "range not satisfiable";
    case 500:
      return "internal error";
    default:
      return "error";
  }
}

void SetText(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(body, kTextPlain);
}

// Calls `handler`, turning a throw or a status outside 100-599 into a 500.
HttpResponse CallHandler(const HttpHandler& handler, const HttpRequest& request) {
  try {
    HttpResponse response = handler(request);
    if (response.status < 100 || response.status > 599) {
      return HttpResponse::Text(500, "internal error\n");
    }
    return response;
  } catch (...) {
    return HttpResponse::Text(500, "internal error\n");
  }
}

HttpResponse Health(const std::function<absl::Status()>& health) {
  if (!health) return HttpResponse::Text(200, "ok\n");
  const absl::Status status = health();
  if (status.ok()) return HttpResponse::Text(200, "ok\n");
  std::string message(status.message());
  if (message.empty()) message = absl::StatusCodeToString(status.code());
  return HttpResponse::Text(503, absl::StrCat(message, "\n"));
}

}  // namespace

HttpServer::HttpServer(Options options, std::string host)
    : options_(std::move(options)),
      host_(std::move(host)),
      server_(std::make_unique<ListeningServer>(options_)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(Options options, std::string host) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(options), std::move(host)));
  httplib::Server& s = *server->server_;
  const Options& o = server->options_;
  const int threads = o.worker_threads;
  s.new_task_queue = [threads] { return new BoundedTaskQueue(threads, kMaxQueuedConnections); };
  const auto [read_s, read_us] = SecondsAndMicros(o.read_timeout);
  const auto [write_s, write_us] = SecondsAndMicros(o.write_timeout);
  s.set_read_timeout(read_s, read_us);
  s.set_write_timeout(write_s, write_us);
  s.set_keep_alive_timeout(static_cast<time_t>(
      absl::ToInt64Seconds(absl::Ceil(o.keep_alive_timeout, absl::Seconds(1)))));
  s.set_keep_alive_max_count(o.keep_alive_max_requests);
  s.set_payload_max_length(o.max_payload_bytes);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a
  // second server bind a port already in use.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  HttpServer* self = server.get();
  // GET and HEAD without a body are answered here, before httplib's own
  // (regex) routing; everything else goes on to httplib, which reads or skips
  // the body (413 past max_payload_bytes) and, finding no route, answers 404,
  // which the error handler turns into 405.
  s.set_pre_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
    if (!IsGetOrHead(req.method)) return HandlerResponse::Unhandled;
    if (HasBody(req)) {  // unread; the connection closes after this answer
      SetText(res, 400, "a GET or HEAD request cannot carry a body\n");
      return HandlerResponse::Handled;
    }
    HttpRequest request{req.method, req.path, req.params, req.remote_addr};
    const HttpResponse response = self->Dispatch(request);
    res.status = response.status;
    for (const auto& [name, value] : response.headers) res.set_header(name.c_str(), value);
    res.set_content(response.body, response.content_type.c_str());
    return HandlerResponse::Handled;
  });
  s.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        // Range is ignored here too: httplib applies the request's ranges to
        // the error answers this handler writes, and an answer written before
        // ignore_ranges runs (416 for a Range it cannot parse) keeps the
        // ranges parsed before the bad one, so its text went out once per
        // range. The request is process_request's own (non-const) object, so
        // dropping them here is sound.
        const_cast<httplib::Request&>(req).ranges.clear();
        const bool other_method = !req.method.empty() && !IsGetOrHead(req.method);
        if (other_method &&
            (res.status == 404 ||
             (res.status == 400 && (req.method == "TRACE" || req.method == "CONNECT")))) {
          res.set_header("Allow", "GET, HEAD");
          SetText(res, 405, "method not allowed; this server answers GET and HEAD\n");
        } else if (res.body.empty()) {
          SetText(res, res.status,
                  std::to_string(res.status) + " " + std::string(ErrorReason(res.status)) + "\n");
        }
        return HandlerResponse::Handled;
      }));
  // Runs as each response is written, errors included.
  s.set_post_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 400 || res.status == 413 || res.status == 414 || HasUnreadBody(req)) {
      t_close_connection = true;
      res.headers.erase("Keep-Alive");
      if (!res.has_header("Connection")) res.set_header("Connection", "close");
    }
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    SetText(res, 500, "internal error\n");
  });
  return server;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Unbound(Options options) {
  return Create(std::move(options), "");
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(std::string_view listen,
                                                              Options options) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress(listen, "HTTP");
  if (!address.ok()) return address.status();
  absl::StatusOr<std::unique_ptr<HttpServer>> created =
      Create(std::move(options), address->display_host);
  if (!created.ok()) return created.status();
  if (absl::Status s = CheckResolves(address->bind_host); !s.ok()) return s;

  // A peer that hangs up mid-response must fail that write, not kill the
  // process (httplib's constructor does the same; this does not rely on it).
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<HttpServer> server = *std::move(created);
  httplib::Server& s = *server->server_;
  errno = 0;
  if (address->port == 0) {
    server->port_ = s.bind_to_any_port(address->bind_host);
  } else if (s.bind_to_port(address->bind_host, address->port)) {
    server->port_ = address->port;
  } else {
    server->port_ = -1;
  }
  if (server->port_ <= 0) {
    const int error = errno;
    return absl::UnavailableError(
        absl::StrCat("cannot bind the HTTP address ", std::string(listen),
                     error != 0 ? absl::StrCat(": ", std::strerror(error)) : std::string(),
                     " (is the port in use, or the host not an address of this machine?)"));
  }

  // A backlog of 5 drops the SYNs of a burst of clients (they retry after a
  // second); listen() again on a listening socket only changes its backlog.
  ::listen(static_cast<ListeningServer&>(s).listening_socket(), kListenBacklog);

  std::atomic<bool>* listener_done = &server->listener_done_;
  server->listener_ = std::thread([&s, listener_done] {
    s.listen_after_bind();
    listener_done->store(true);
  });
  // Stop() may only close the listener once httplib has marked it running.
  while (!s.is_running() && !listener_done->load()) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return server;
}

HttpServer::~HttpServer() { Stop(); }

std::string HttpServer::ServeBytes(std::string_view input) const {
  return static_cast<ListeningServer&>(*server_).ServeBytes(input);
}

std::string HttpServer::address() const { return absl::StrCat(host_, ":", port_); }

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lock(stop_mutex_);
  if (!listener_.joinable()) return;
  server_->stop();
  listener_.join();
}

HttpResponse HttpServer::Dispatch(const HttpRequest& request) const {
  if (request.path == "/healthz") {
    return CallHandler([this](const HttpRequest&) { return Health(options_.health); }, request);
  }
  if (request.path == "/metrics" && options_.metrics) {
    return CallHandler(
        [this](const HttpRequest&) {
          HttpResponse response;
          response.content_type = kPrometheusContentType;
          response.body = options_.metrics();
          return response;
        },
        request);
  }
  if (const HttpHandler* handler = options_.routes.Find(request.path)) {
    return CallHandler(*handler, request);
  }
  return HttpResponse::Text(404, "not found\n");
}

}  // namespace aiscore::collector
