#include "collector/service/rate_limiter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace aiscore::collector {
namespace {

constexpr double kNanosPerSecond = 1e9;
// Slack when comparing token counts, so that float rounding in the refill
// (0.1/s over 10 s adding up to 0.9999999999) never costs a token.
constexpr double kTokenEpsilon = 1e-9;

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Hash that looks std::string keys up by std::string_view.
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view key) const { return std::hash<std::string_view>()(key); }
};

}  // namespace

bool RateLimit::enabled() const {
  return per_second > 0 && std::isfinite(per_second) && std::isfinite(burst);
}

struct alignas(64) RateLimiter::Shard {
  std::mutex mu;
  std::unordered_map<std::string, Bucket, KeyHash, std::equal_to<>> buckets;  // guarded by mu
  size_t capacity = 0;                                          // most buckets this shard keeps
  int64_t next_sweep_ns = std::numeric_limits<int64_t>::min();  // guarded by mu
};

RateLimiter::RateLimiter(RateLimit limit, size_t max_buckets, Clock clock)
    : limit_(limit), enabled_(limit.enabled()), sweep_interval_ns_(0), clock_(std::move(clock)) {
  if (enabled_) {
    limit_.burst = std::max(limit_.burst, 1.0);
    // A bucket that gave one token is full again after 1/rate at the
    // earliest; sweeping 8 times in that span frees room close to when it
    // appears.
    sweep_interval_ns_ = absl::ToInt64Nanoseconds(std::clamp(
        absl::Seconds(1 / (8 * limit_.per_second)), kMinSweepInterval, kMaxSweepInterval));
  }
  if (!clock_) clock_ = SteadyNowNs;
  // Fewer shards than kRateLimiterShards when max_buckets is small, so that
  // every shard can hold at least one bucket; the capacities add up to
  // max_buckets exactly.
  num_shards_ =
      static_cast<int>(std::clamp<size_t>(max_buckets, 1, static_cast<size_t>(kRateLimiterShards)));
  shards_ = std::make_unique<Shard[]>(num_shards_);
  for (int i = 0; i < num_shards_; ++i) {
    shards_[i].capacity =
        max_buckets / num_shards_ + (static_cast<size_t>(i) < max_buckets % num_shards_ ? 1 : 0);
  }
  overflow_ = Bucket{limit_.burst, clock_()};
}

RateLimiter::~RateLimiter() = default;

bool RateLimiter::Take(Bucket* bucket, int64_t now_ns, absl::Duration* retry_after) const {
  if (now_ns > bucket->last_ns) {
    // Unsigned subtraction: exact even where now - last would overflow int64.
    const double elapsed_ns =
        static_cast<double>(static_cast<uint64_t>(now_ns) - static_cast<uint64_t>(bucket->last_ns));
    bucket->tokens =
        std::min(limit_.burst, bucket->tokens + elapsed_ns * limit_.per_second / kNanosPerSecond);
    bucket->last_ns = now_ns;
  }
  if (bucket->tokens >= 1 - kTokenEpsilon) {
    bucket->tokens = std::max(0.0, bucket->tokens - 1);
    if (retry_after != nullptr) *retry_after = absl::ZeroDuration();
    return true;
  }
  if (retry_after != nullptr) {
    // The clock may read before last_ns (it went backwards); refill resumes
    // only once it passes last_ns again.
    double wait_ns = (1 - bucket->tokens) * kNanosPerSecond / limit_.per_second;
    if (bucket->last_ns > now_ns) {
      wait_ns += static_cast<double>(static_cast<uint64_t>(bucket->last_ns) -
                                     static_cast<uint64_t>(now_ns));
    }
    // The floating-point overload saturates to InfiniteDuration when out of range.
    *retry_after = absl::Nanoseconds(std::ceil(wait_ns));
  }
  return false;
}

void RateLimiter::MaybeSweep(Shard* shard, int64_t now_ns) const {
  if (now_ns < shard->next_sweep_ns) return;
  std::erase_if(shard->buckets, [&](const auto& entry) {
    const Bucket& bucket = entry.second;
    if (now_ns <= bucket.last_ns) return bucket.tokens >= limit_.burst - kTokenEpsilon;
    const double elapsed_ns =
        static_cast<double>(static_cast<uint64_t>(now_ns) - static_cast<uint64_t>(bucket.last_ns));
    return bucket.tokens + elapsed_ns * limit_.per_second / kNanosPerSecond >=
           limit_.burst - kTokenEpsilon;
  });
  shard->next_sweep_ns = now_ns > std::numeric_limits<int64_t>::max() - sweep_interval_ns_
                             ? std::numeric_limits<int64_t>::max()
                             : now_ns + sweep_interval_ns_;
}

bool RateLimiter::TakeOverflow(int64_t now_ns, absl::Duration* retry_after) {
  std::lock_guard<std::mutex> lock(overflow_mu_);
  return Take(&overflow_, now_ns, retry_after);
}

bool RateLimiter::Allow(std::string_view key, absl::Duration* retry_after) {
  if (!enabled_) {
    if (retry_after != nullptr) *retry_after = absl::ZeroDuration();
    return true;
  }
  const int64_t now_ns = clock_();
  Shard& shard = shards_[KeyHash()(key) % static_cast<size_t>(num_shards_)];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.buckets.find(key);
    if (it != shard.buckets.end()) return Take(&it->second, now_ns, retry_after);
    if (shard.buckets.size() >= shard.capacity) MaybeSweep(&shard, now_ns);
    if (shard.buckets.size() < shard.capacity) {
      it = shard.buckets.emplace(std::string(key), Bucket{limit_.burst, now_ns}).first;
      return Take(&it->second, now_ns, retry_after);
    }
  }
  return TakeOverflow(now_ns, retry_after);
}

size_t RateLimiter::bucket_count() const {
  size_t count = 0;
  for (int i = 0; i < num_shards_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    count += shards_[i].buckets.size();
  }
  return count;
}

namespace {

// Drops `prefix` from the front of *text; false (and *text untouched) when
// *text does not start with it.
bool ConsumePrefix(std::string_view* text, std::string_view prefix) {
  if (!text->starts_with(prefix)) return false;
  text->remove_prefix(prefix.size());
  return true;
}

std::string_view StripSpaces(std::string_view text) {
  while (!text.empty() && absl::ascii_isspace(text.front())) text.remove_prefix(1);
  while (!text.empty() && absl::ascii_isspace(text.back())) text.remove_suffix(1);
  return text;
}

// The whole of `text` as a finite number; nullopt otherwise ("inf", "1x", "").
std::optional<double> ParseFiniteDouble(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

// Decodes %XX escapes; nullopt on a malformed one.
std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int value = 0;
    for (size_t j = i + 1; j <= i + 2; ++j) {
      const char c = absl::ascii_tolower(text[j]);
      if (!absl::ascii_isxdigit(c)) return std::nullopt;
      value = value * 16 + (absl::ascii_isdigit(c) ? c - '0' : c - 'a' + 10);
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

bool IsPort(std::string_view text) {
  return !text.empty() && text.size() <= 5 &&
         std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isdigit(c); });
}

// "1.2.3.4:555" (port optional) -> "1.2.3.4".
std::optional<std::string> Ipv4Host(std::string_view rest) {
  std::string_view host = rest;
  if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    if (!IsPort(rest.substr(colon + 1))) return std::nullopt;
    host = rest.substr(0, colon);
  }
  const std::string host_string(host);
  in_addr addr;
  if (inet_pton(AF_INET, host_string.c_str(), &addr) != 1) return std::nullopt;
  return host_string;
}

// "[2001:db8::1]:5" or "%5B2001:db8::1%5D:5" (port optional, zone allowed)
// -> "2001:db8:0:0::/64", or the dotted IPv4 address of an IPv4-mapped one.
std::optional<std::string> Ipv6Host(std::string_view rest) {
  const std::optional<std::string> decoded = PercentDecode(rest);
  if (!decoded.has_value()) return std::nullopt;
  std::string_view text = *decoded;
  if (!ConsumePrefix(&text, "[")) return std::nullopt;
  const size_t close = text.find(']');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, close);
  std::string_view after = text.substr(close + 1);
  if (!after.empty() && !(ConsumePrefix(&after, ":") && IsPort(after))) return std::nullopt;
  if (const size_t zone = host.find('%'); zone != std::string_view::npos) {
    host = host.substr(0, zone);  // "fe80::1%eth0": the zone names a local interface
  }
  const std::string host_string(host);
  unsigned char bytes[16];
  if (inet_pton(AF_INET6, host_string.c_str(), bytes) != 1) return std::nullopt;
  static constexpr unsigned char kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes, kV4MappedPrefix, sizeof(kV4MappedPrefix)) == 0) {
    return absl::StrFormat("%d.%d.%d.%d", bytes[12], bytes[13], bytes[14], bytes[15]);
  }
  auto group = [&](int i) { return (bytes[2 * i] << 8) | bytes[2 * i + 1]; };
  return absl::StrFormat("%x:%x:%x:%x::/64", group(0), group(1), group(2), group(3));
}

absl::Status BadRateLimit(std::string_view text, std::string_view problem) {
  return absl::InvalidArgumentError(
      "invalid rate limit \"" + std::string(text) + "\": " + std::string(problem) +
      "; expected 0 or off (no limit) or COUNT/PERIOD[:BURST], such as 10/s, 600/m:50 or 1/10s "
      "(PERIOD: s, m or h, optionally after a number; BURST: a whole number >= 1)");
}

}  // namespace

std::string PeerHost(std::string_view grpc_peer) {
  std::string_view rest = grpc_peer;
  std::optional<std::string> host;
  if (ConsumePrefix(&rest, "ipv4:")) {
    host = Ipv4Host(rest);
  } else if (ConsumePrefix(&rest, "ipv6:")) {
    host = Ipv6Host(rest);
  }
  return host.has_value() ? *std::move(host) : std::string(grpc_peer);
}

absl::StatusOr<RateLimit> ParseRateLimit(std::string_view text) {
  const std::string_view value = StripSpaces(text);
  if (value == "0" || absl::AsciiStrToLower(std::string(value)) == "off") return RateLimit{};

  const size_t slash = value.find('/');
  if (slash == std::string_view::npos) return BadRateLimit(text, "no '/' between COUNT and PERIOD");
  const std::string_view count_text = value.substr(0, slash);
  std::string_view period_text = value.substr(slash + 1);
  std::string_view burst_text;
  const size_t colon = period_text.find(':');
  if (colon != std::string_view::npos) {
    burst_text = period_text.substr(colon + 1);
    period_text = period_text.substr(0, colon);
  }

  const std::optional<double> count = ParseFiniteDouble(count_text);
  if (!count.has_value()) {
    return BadRateLimit(text, "COUNT \"" + std::string(count_text) + "\" is not a number");
  }
  if (*count <= 0) return BadRateLimit(text, "COUNT must be > 0 (write 0 or off for no limit)");

  double unit_seconds = 0;
  if (period_text.ends_with('s')) {
    unit_seconds = 1;
  } else if (period_text.ends_with('m')) {
    unit_seconds = 60;
  } else if (period_text.ends_with('h')) {
    unit_seconds = 3600;
  } else {
    return BadRateLimit(text,
                        "PERIOD \"" + std::string(period_text) + "\" does not end in s, m or h");
  }
  const std::string_view period_count_text = period_text.substr(0, period_text.size() - 1);
  std::optional<double> period_count = 1.0;
  if (!period_count_text.empty()) period_count = ParseFiniteDouble(period_count_text);
  if (!period_count.has_value() || *period_count <= 0) {
    return BadRateLimit(text,
                        "PERIOD \"" + std::string(period_text) + "\" is not a positive length");
  }

  RateLimit limit;
  limit.per_second = *count / (*period_count * unit_seconds);
  if (!(limit.per_second > 0) || !std::isfinite(limit.per_second)) {
    return BadRateLimit(text, "the rate is out of range");
  }
  if (colon != std::string_view::npos) {
    int64_t burst = 0;
    const char* end = burst_text.data() + burst_text.size();
    const auto [ptr, ec] = std::from_chars(burst_text.data(), end, burst);
    if (burst_text.empty() || ec != std::errc() || ptr != end || burst < 1) {
      return BadRateLimit(text,
                          "BURST \"" + std::string(burst_text) + "\" is not a whole number >= 1");
    }
    limit.burst = static_cast<double>(burst);
  } else {
    limit.burst = std::max(1.0, std::ceil(*count));
  }
  return limit;
}

}  // namespace aiscore::collector
