#include "collector/http/listen_address.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace aiscore::collector {

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view listen, std::string_view what) {
  const auto invalid = [listen, what](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad ", std::string(what), " listen address \"", std::string(listen), "\": ",
        std::string(why), " (expected HOST:PORT or [IPV6]:PORT, PORT 0 for any free port)"));
  };
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) return invalid("no port");
  ListenAddress address;
  address.display_host = std::string(listen.substr(0, colon));
  const std::string_view port = listen.substr(colon + 1);
  std::string_view host = address.display_host;
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return invalid("unbalanced brackets");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return invalid("an IPv6 host needs brackets");
  }
  if (host.empty()) return invalid("no host");
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' &&
        c != ':' && c != '%') {
      return invalid("bad character in the host");
    }
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(absl::string_view(port.data(), port.size()), &address.port) ||
      address.port > 65535) {
    return invalid("the port is not a number from 0 to 65535");
  }
  address.bind_host = std::string(host);
  return address;
}

}  // namespace aiscore::collector
