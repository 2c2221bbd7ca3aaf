// RateLimiter: one token bucket per key (a peer host, a signer's public key),
// all with the same RateLimit, so that no single client can flood the
// collector. CollectorService::Submit asks it twice: with PeerHost(peer) before
// verifying, and with the signer's key once the signature checked; a refusal
// becomes RESOURCE_EXHAUSTED naming the limit and the retry delay.
//
// Bucket: holds at most `burst` tokens and gains `per_second` tokens a second
// (fractions count: 0.1/s is one token every 10 s); Allow takes one whole token.
// A key seen for the first time starts with a full bucket. Time comes from the
// injected monotonic clock; a reading earlier than the bucket's last one adds
// nothing (and the bucket waits until the clock passes that reading again), and
// a long gap refills to `burst` at most.
//
// Memory is bounded: at most `max_buckets` per-key buckets, plus one shared
// "overflow" bucket. A full bucket is indistinguishable from a fresh one, so
// full buckets are dropped when room is needed: a new key that finds its shard
// at capacity sweeps that shard, removing every full bucket. Sweeps of one
// shard are at least the sweep interval apart (an eighth of the time one token
// takes to refill, clamped to [10 ms, 1 s]), so a flood of new keys costs one
// O(shard size) scan per interval per shard and O(1) per call otherwise.
//
// A bucket that is not full is never dropped, so eviction never hands a key
// tokens it would not have had. The trade-off: when a shard is full of
// non-full buckets (its keys all took a token within one refill time), keys
// that have no bucket share the overflow bucket, a single bucket with the same
// RateLimit: together they get `burst` plus `per_second`, no more, until
// sweeps find room. So an attacker cycling through new keys gets a fresh
// `burst` per new key only while the table has room for them, and otherwise
// competes for one shared bucket; it never costs memory past the bound. The
// per-key limit cannot stop key cycling by itself (keys are free to make);
// the per-peer limit is what bounds that. The price is that legitimate new
// keys arriving during such a flood also wait on the shared bucket.
//
// Memory: about 100 bytes plus the key's length per bucket (100000 buckets of
// 64-character keys are ~16 MiB).
//
// Thread-safety: every method may be called from any number of threads at
// once. Buckets live in 16 shards chosen by the key's hash, each with its own
// mutex, so calls on different keys rarely wait on each other.
#ifndef AISCORE_COLLECTOR_SERVICE_RATE_LIMITER_H_
#define AISCORE_COLLECTOR_SERVICE_RATE_LIMITER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aiscore::collector {

// A token-bucket limit. Disabled when per_second <= 0 or either field is not
// finite (an infinite rate or bucket is no limit).
struct RateLimit {
  double per_second = 0;  // sustained rate, tokens per second; <= 0 disables the limit
  double burst = 0;       // bucket size, tokens; >= 1 when enabled (smaller is taken as 1)

  bool enabled() const;
};

// Number of mutex-guarded shards the buckets are spread over.
inline constexpr int kRateLimiterShards = 16;
// Bounds of the interval between two sweeps of one shard.
inline constexpr absl::Duration kMinSweepInterval = absl::Milliseconds(10);
inline constexpr absl::Duration kMaxSweepInterval = absl::Seconds(1);

class RateLimiter {
 public:
  // Monotonic time in nanoseconds; the default reads std::chrono::steady_clock.
  using Clock = std::function<int64_t()>;

  // `limit` applies to every key; at most `max_buckets` per-key buckets are
  // kept (0 sends every key to the shared overflow bucket). `clock` must be
  // callable from any thread.
  explicit RateLimiter(RateLimit limit, size_t max_buckets = 100000, Clock clock = {});

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;
  ~RateLimiter();

  // Takes one token from `key`'s bucket; true when allowed (always when the
  // limit is disabled). When refused, *retry_after (if not null) is the time
  // until a token is available (rounded up to the nanosecond); when allowed,
  // it is zero.
  bool Allow(std::string_view key, absl::Duration* retry_after = nullptr);

  // Per-key buckets held now (the overflow bucket not counted); <= max_buckets.
  size_t bucket_count() const;

  // The limit in force: the constructor's, with a burst below 1 raised to 1.
  const RateLimit& limit() const { return limit_; }

 private:
  struct Bucket {
    double tokens;    // tokens left after the last refill, in [0, burst]
    int64_t last_ns;  // clock reading of the last refill
  };
  struct Shard;  // a mutex and the buckets of the keys that hash to it

  // Refills `bucket` to `now_ns` and takes a token if one is there.
  bool Take(Bucket* bucket, int64_t now_ns, absl::Duration* retry_after) const;
  // Removes the full buckets of `shard` (its mutex held) unless it was swept
  // less than sweep_interval_ns_ ago.
  void MaybeSweep(Shard* shard, int64_t now_ns) const;
  // Takes a token from the shared overflow bucket.
  bool TakeOverflow(int64_t now_ns, absl::Duration* retry_after);

  RateLimit limit_;
  bool enabled_;
  int64_t sweep_interval_ns_;
  Clock clock_;
  int num_shards_;
  std::unique_ptr<Shard[]> shards_;  // [num_shards_]

  std::mutex overflow_mu_;
  Bucket overflow_;  // guarded by overflow_mu_
};

// The rate-limiting identity of a gRPC peer (grpc::ServerContext::peer()): the
// host without the port, so that one host is one bucket.
//   "ipv4:1.2.3.4:555"               -> "1.2.3.4"
//   "ipv6:[2001:db8::1]:5"           -> "2001:db8:0:0::/64" (a /64 is one site; hosts in it
//                                       can pick any of its 2^64 addresses)
//   "ipv6:%5B2001:db8::1%5D:5"       -> same (gRPC percent-encodes the brackets)
//   "ipv6:[::ffff:1.2.3.4]:5"        -> "1.2.3.4" (an IPv4 client on a dual-stack socket)
//   "unix:/tmp/s", garbage           -> the string itself
std::string PeerHost(std::string_view grpc_peer);

// Parses a rate-limit flag value. Syntax (surrounding spaces ignored):
//   0 | off                  the limit is disabled
//   COUNT/PERIOD[:BURST]     COUNT tokens per PERIOD, bucket of BURST tokens
// COUNT is a positive decimal number ("10", "0.5"). PERIOD is a unit (s, m,
// h) optionally preceded by a positive number: "s", "m", "h", "10s", "15m".
// BURST is a whole number >= 1; it defaults to COUNT rounded up (at least 1),
// i.e. a full period's worth at once. Examples:
//   "10/s"      10 per second, burst 10
//   "600/m:50"  10 per second sustained, burst 50
//   "1/10s"     one every 10 seconds, burst 1
//   "100/h:5"   100 per hour, burst 5
// Anything else is InvalidArgument with a message that quotes the value and
// shows the syntax.
absl::StatusOr<RateLimit> ParseRateLimit(std::string_view text);

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_SERVICE_RATE_LIMITER_H_
