// ConnectionListener: the collector's own TCP listener in front of its gRPC
// server, so that the number of open connections is capped. gRPC 1.51 has no
// such cap (grpc.max_allowed_incoming_connections came later), and each
// connection costs memory and a place in the poller: without a cap, a client
// that opens connections and never closes them grows the collector without
// bound.
//
// The listener binds HOST:PORT, accepts every connection, and hands it to the
// started gRPC server (grpc::AddInsecureChannelFromFd) while fewer than
// `max_connections` are open in all and fewer than `max_per_host` from the
// connecting host (PeerHost: an IPv4 address, an IPv6 /64). A connection over
// either cap is reset at once (SO_LINGER 0): the client's call fails with
// UNAVAILABLE instead of waiting, and its host's other connections go on.
//
// How a connection is known to have closed: the listener keeps a duplicate of
// each socket it handed over and polls it for hang-up. gRPC shuts a socket
// down (shutdown(SHUT_RDWR)) when it drops the connection, whichever side
// ended it, and a peer that closes sends a FIN; either wakes the poll, and the
// listener closes its duplicate and frees the place. A connection that sends
// nothing is shut down after first_bytes_within, and one that went idle after
// idle_within (the kernel's byte counts of the socket, TCP_INFO, tell), so
// neither holds a place for ever; a client's keepalive pings, which the
// server accepts once a minute, count as traffic.
//
// gRPC names a connection it got this way "fd:N". Peer() turns that name
// back into the address the connection came from ("ipv4:1.2.3.4:5"), which
// the per-peer rate limit needs.
//
// Each open connection takes two descriptors: the caller raises
// RLIMIT_NOFILE to fit max_connections (aiscore-collector does). A connection
// that finds no descriptor is refused like one over a cap.
//
// Thread-safety: Peer() and counts() may be called from any thread; Stop()
// and the destructor from the thread that started the listener.
#ifndef AISCORE_COLLECTOR_SERVICE_CONNECTION_LISTENER_H_
#define AISCORE_COLLECTOR_SERVICE_CONNECTION_LISTENER_H_

#include <grpcpp/server.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"

namespace aiscore::collector {

struct ConnectionLimits {
  int max_connections = 1024;  // open connections in all
  int max_per_host = 64;       // open connections from one host (PeerHost)
  // A connection that has sent nothing this long after it was accepted, or
  // on which no byte has moved either way for idle_within, is shut down.
  // (gRPC's own handshake deadline and idle limit do not act on connections
  // handed to it by descriptor.)
  std::chrono::milliseconds first_bytes_within{10000};
  std::chrono::milliseconds idle_within{120000};
};

class ConnectionListener {
 public:
  struct Counts {
    int open = 0;          // connections handed to gRPC and not yet closed
    int64_t accepted = 0;  // handed to gRPC since the start
    int64_t refused = 0;   // reset because a cap was reached
    int64_t silent = 0;    // shut down for sending nothing within first_bytes_within
    int64_t idle = 0;      // shut down after idle_within without traffic
  };

  // Listens on `address` (HOST:PORT; "[::1]:0", "localhost:50051"; port 0:
  // a free one) for `server`, which must be started and must outlive the
  // listener. An address that does not parse, resolve or bind is an error
  // naming it.
  static absl::StatusOr<std::unique_ptr<ConnectionListener>> Start(grpc::Server* server,
                                                                   const std::string& address,
                                                                   ConnectionLimits limits = {});
  ~ConnectionListener();
  ConnectionListener(const ConnectionListener&) = delete;
  ConnectionListener& operator=(const ConnectionListener&) = delete;

  // Stops accepting and closes the listening socket; connections already
  // handed over stay gRPC's. Idempotent; the destructor calls it.
  void Stop();

  int port() const { return port_; }
  // The address of a connection as gRPC names it: "fd:N" of a connection
  // this listener handed over becomes "ipv4:HOST:PORT" or "ipv6:[HOST]:PORT";
  // any other name is returned as it is.
  std::string Peer(std::string_view grpc_peer) const;
  Counts counts() const;

 private:
  ConnectionListener(grpc::Server* server, int listen_fd, int wake_fd, int port,
                     ConnectionLimits limits);
  void Loop();
  // Accepts what is pending; false when out of descriptors.
  bool Accept();
  void Closed(int watch_fd);

  grpc::Server* const server_;
  const int listen_fd_;
  const int wake_fd_;  // an eventfd: Stop() writes it
  const int port_;
  const ConnectionLimits limits_;
  std::thread thread_;

  struct Connection {
    int grpc_fd;         // the descriptor gRPC owns
    std::string peer;    // "ipv4:..." / "ipv6:..."
    std::string host;    // PeerHost(peer)
    bool spoke = false;  // bytes have arrived
    uint64_t bytes = 0;  // received + acknowledged as sent, at the last check
    std::chrono::steady_clock::time_point active;  // accepted, or bytes last seen moving
  };
  // Only the listener's thread writes these.
  std::map<int, Connection> watched_;  // by the listener's duplicate
  std::map<std::string, int> per_host_;

  mutable std::mutex mu_;
  std::map<int, std::string> peers_;  // guarded by mu_: gRPC's fd -> peer
  Counts counts_;                     // guarded by mu_
};

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_SERVICE_CONNECTION_LISTENER_H_
