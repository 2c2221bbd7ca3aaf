#include "collector/service/connection_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/server_posix.h>
#include <linux/tcp.h>  // struct tcp_info with tcpi_bytes_received
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/http/listen_address.h"
#include "collector/service/rate_limiter.h"

namespace aiscore::collector {
namespace {

std::string Errno(std::string_view what) {
  return absl::StrCat(std::string(what), ": ", std::strerror(errno));
}

// "ipv4:1.2.3.4:5" or "ipv6:[::1]:5", as gRPC names peers.
std::string PeerName(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
    return absl::StrCat("ipv4:", host, ":", ntohs(in.sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
    inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
    return absl::StrCat("ipv6:[", host, "]:", ntohs(in6.sin6_port));
  }
  return "unknown";
}

// Resets a connection: the peer sees RST, not a slow close.
void Reset(int fd) {
  const linger hard{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  close(fd);
}

// Binds and listens on HOST:PORT; the socket, or an error naming the address.
absl::StatusOr<int> Listen(const std::string& address, int* port) {
  absl::StatusOr<ListenAddress> parsed = ParseListenAddress(address, "gRPC");
  if (!parsed.ok()) return parsed.status();
  const std::string port_text = std::to_string(parsed->port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(parsed->bind_host.c_str(), port_text.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", address, "': ", gai_strerror(rc)));
  }
  std::string why = "no address";
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      why = Errno("socket");
      continue;
    }
    const int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      why = Errno("bind");
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on '", address, "': ", why));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  *port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                            : reinterpret_cast<sockaddr_in&>(bound).sin_port);
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConnectionListener>> ConnectionListener::Start(
    grpc::Server* server, const std::string& address, ConnectionLimits limits) {
  if (limits.max_connections < 1 || limits.max_per_host < 1) {
    return absl::InvalidArgumentError("connection caps must be at least 1");
  }
  int port = 0;
  absl::StatusOr<int> listen_fd = Listen(address, &port);
  if (!listen_fd.ok()) return listen_fd.status();
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    close(*listen_fd);
    return absl::InternalError(Errno("eventfd"));
  }
  std::unique_ptr<ConnectionListener> listener(
      new ConnectionListener(server, *listen_fd, wake_fd, port, limits));
  listener->thread_ = std::thread([l = listener.get()] { l->Loop(); });
  return listener;
}

ConnectionListener::ConnectionListener(grpc::Server* server, int listen_fd, int wake_fd, int port,
                                       ConnectionLimits limits)
    : server_(server), listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port), limits_(limits) {}

ConnectionListener::~ConnectionListener() {
  Stop();
  close(wake_fd_);
}

void ConnectionListener::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  thread_.join();
  close(listen_fd_);
  for (const auto& [watch_fd, connection] : watched_) close(watch_fd);
  watched_.clear();
}

std::string ConnectionListener::Peer(std::string_view grpc_peer) const {
  int fd = 0;
  if (grpc_peer.starts_with("fd:") && absl::SimpleAtoi(std::string(grpc_peer.substr(3)), &fd)) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peers_.find(fd);
    if (it != peers_.end()) return it->second;
  }
  return std::string(grpc_peer);
}

ConnectionListener::Counts ConnectionListener::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void ConnectionListener::Loop() {
  std::vector<pollfd> fds;
  bool out_of_descriptors = false;
  for (;;) {
    // Each connection is checked when its silence or idle limit would run
    // out: the kernel's byte counts of the socket, which gRPC's reads and
    // writes move, tell whether it is still in use.
    const auto now = std::chrono::steady_clock::now();
    auto wake_at = std::chrono::steady_clock::time_point::max();
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    // Out of descriptors, a pending connection cannot even be accepted and
    // reset: leave it in the backlog for 100 ms rather than spin on it.
    fds.push_back({listen_fd_, static_cast<short>(out_of_descriptors ? 0 : POLLIN), 0});
    if (out_of_descriptors) wake_at = now + std::chrono::milliseconds(100);
    const auto first_check = std::min(limits_.first_bytes_within, limits_.idle_within);
    for (auto& [watch_fd, c] : watched_) {
      auto deadline = c.active + (c.spoke ? limits_.idle_within : first_check);
      if (deadline <= now) {
        tcp_info info{};
        socklen_t length = sizeof(info);
        if (getsockopt(watch_fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) {
          info.tcpi_bytes_received = c.bytes + 1;  // cannot tell: count it as traffic
        }
        const uint64_t bytes = info.tcpi_bytes_received + info.tcpi_bytes_acked;
        if (bytes != c.bytes) {
          c.bytes = bytes;
          c.spoke = c.spoke || info.tcpi_bytes_received > 0;
          c.active = now;
          deadline = now + (c.spoke ? limits_.idle_within : first_check);
        } else if (c.spoke || now - c.active >= limits_.first_bytes_within) {
          shutdown(watch_fd, SHUT_RDWR);  // gRPC sees the end too; the poll then sees HUP
          deadline = std::chrono::steady_clock::time_point::max();
          std::lock_guard<std::mutex> lock(mu_);
          ++(c.spoke ? counts_.idle : counts_.silent);
        } else {
          deadline = c.active + limits_.first_bytes_within;
        }
      }
      fds.push_back({watch_fd, POLLRDHUP, 0});
      wake_at = std::min(wake_at, deadline);
    }
    int timeout_ms = -1;
    if (wake_at != std::chrono::steady_clock::time_point::max()) {
      timeout_ms =
          static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count());
      timeout_ms = std::max(timeout_ms, 0);
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      return;  // EFAULT/EINVAL/ENOMEM: nothing this loop can mend
    }
    if (fds[0].revents != 0) return;
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) Closed(fds[i].fd);
    }
    out_of_descriptors = false;
    if (fds[1].revents & POLLIN) out_of_descriptors = !Accept();
  }
}

bool ConnectionListener::Accept() {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t length = sizeof(addr);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM;
    const std::string peer = PeerName(addr);
    const std::string host = PeerHost(peer);
    const int from_host = per_host_.count(host) != 0 ? per_host_[host] : 0;
    const int watch_fd = static_cast<int>(watched_.size()) < limits_.max_connections &&
                                 from_host < limits_.max_per_host
                             ? fcntl(fd, F_DUPFD_CLOEXEC, 0)
                             : -1;
    if (watch_fd < 0) {  // over a cap, or no descriptor left to watch it with
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++counts_.refused;
      }
      Reset(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    watched_[watch_fd] = {fd, peer, host, false, 0, std::chrono::steady_clock::now()};
    ++per_host_[host];
    {
      std::lock_guard<std::mutex> lock(mu_);
      peers_[fd] = peer;
      ++counts_.accepted;
      counts_.open = static_cast<int>(watched_.size());
    }
    grpc::AddInsecureChannelFromFd(server_, fd);
  }
}

void ConnectionListener::Closed(int watch_fd) {
  auto it = watched_.find(watch_fd);
  if (it == watched_.end()) return;
  const Connection& c = it->second;
  if (--per_host_[c.host] == 0) per_host_.erase(c.host);
  {
    std::lock_guard<std::mutex> lock(mu_);
    // gRPC's descriptor may already name a newer connection; keep its peer then.
    auto peer = peers_.find(c.grpc_fd);
    if (peer != peers_.end() && peer->second == c.peer) peers_.erase(peer);
    counts_.open = static_cast<int>(watched_.size()) - 1;
  }
  close(watch_fd);
  watched_.erase(it);
}

}  // namespace aiscore::collector
