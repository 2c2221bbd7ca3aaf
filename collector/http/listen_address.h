// HOST:PORT listen addresses, as the collector's flags take them (--listen
// for gRPC, --http): "127.0.0.1:50051", "localhost:0", "[::1]:8080".
#ifndef AISCORE_COLLECTOR_HTTP_LISTEN_ADDRESS_H_
#define AISCORE_COLLECTOR_HTTP_LISTEN_ADDRESS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aiscore::collector {

// "HOST:PORT" or "[IPV6]:PORT" split into the host as given, the host to bind
// (brackets removed) and the port (0: any free one).
struct ListenAddress {
  std::string display_host;
  std::string bind_host;
  int port = 0;
};

// InvalidArgument naming the address, `what` listens on it ("HTTP", "gRPC")
// and what is wrong: no port, no host, unbalanced brackets, an IPv6 host
// without brackets, a bad character, a port that is not 0 to 65535.
absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view listen, std::string_view what);

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_HTTP_LISTEN_ADDRESS_H_
