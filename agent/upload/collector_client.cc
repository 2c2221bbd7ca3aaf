#include "agent/upload/collector_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/sign/atomic_file.h"

namespace aiscore {
namespace {

constexpr int kMaxReceiveBytes = 64 << 20;  // a GetResult response with every case
constexpr int64_t kMaxCaFileBytes = 1 << 20;

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// Full jitter: a uniform wait in [0, min(max, initial * 2^(attempt - 1))].
std::chrono::milliseconds Backoff(const CollectorOptions& o, int attempt) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  double cap = static_cast<double>(o.initial_backoff.count());
  for (int i = 1; i < attempt && cap < o.max_backoff.count(); ++i) cap *= 2;
  cap = std::min(cap, static_cast<double>(o.max_backoff.count()));
  std::uniform_real_distribution<double> wait(0.0, cap);
  return std::chrono::milliseconds(static_cast<int64_t>(wait(rng)));
}

}  // namespace

std::string DefaultCollectorTarget() {
  const char* env = std::getenv("AISCORE_COLLECTOR");
  return env != nullptr && env[0] != '\0' ? std::string(env) : std::string(kDefaultCollector);
}

absl::StatusOr<std::unique_ptr<CollectorClient>> CollectorClient::Create(
    const std::string& target, const CollectorOptions& options) {
  if (target.empty()) return absl::InvalidArgumentError("no collector address (HOST:PORT) given");
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("attempts must be at least 1, not ", options.max_attempts));
  }
  if (options.deadline.count() <= 0) {
    return absl::InvalidArgumentError("the deadline of a collector call must be positive");
  }
  if (options.initial_backoff.count() < 0 || options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError("backoff must satisfy 0 <= initial <= max");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      absl::StatusOr<std::string> pem = ReadSmallFile(options.ca_file, kMaxCaFileBytes);
      if (!pem.ok()) {
        return absl::Status(pem.status().code(),
                            absl::StrCat("CA certificates (--ca): ", pem.status().message()));
      }
      ssl.pem_root_certs = std::move(*pem);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    if (!options.ca_file.empty()) {
      return absl::InvalidArgumentError("a CA file is given but TLS is off (add --tls)");
    }
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  // Reconnect about as eagerly as calls are retried, so a retry after the
  // collector came back does not fail on the channel's own backoff.
  const int initial_ms = static_cast<int>(std::max<int64_t>(options.initial_backoff.count(), 100));
  const int max_ms = static_cast<int>(std::max<int64_t>(options.max_backoff.count(), initial_ms));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, initial_ms);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, initial_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_ms);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(target, credentials, args);
  return std::unique_ptr<CollectorClient>(
      new CollectorClient(target, options, aiscore::v1::Collector::NewStub(channel)));
}

CollectorClient::CollectorClient(std::string target, const CollectorOptions& options,
                                 std::unique_ptr<aiscore::v1::Collector::Stub> stub)
    : target_(std::move(target)), options_(options), stub_(std::move(stub)) {}

template <typename Response>
absl::StatusOr<Response> CollectorClient::Call(
    const char* method, const std::function<grpc::Status(grpc::ClientContext*, Response*)>& rpc) {
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + options_.deadline);
    Response response;
    const grpc::Status status = rpc(&context, &response);
    if (status.ok()) return response;
    const bool retryable = Retryable(status.error_code());
    std::string message =
        absl::StrCat("collector ", target_, ": ", method, ": ", status.error_message());
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      absl::StrAppend(&message, " (no answer within ", options_.deadline.count() / 1000.0, " s)");
    }
    if (!retryable || attempt >= options_.max_attempts) {
      if (retryable && attempt > 1)
        absl::StrAppend(&message, "; gave up after ", attempt, " attempts");
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()), message);
    }
    if (observer_)
      observer_(attempt, absl::Status(static_cast<absl::StatusCode>(status.error_code()), message));
    std::this_thread::sleep_for(Backoff(options_, attempt));
  }
}

absl::StatusOr<aiscore::v1::SubmitResponse> CollectorClient::Submit(
    const aiscore::v1::SubmitRequest& request) {
  return Call<aiscore::v1::SubmitResponse>(
      "Submit", [&](grpc::ClientContext* c, aiscore::v1::SubmitResponse* r) {
        return stub_->Submit(c, request, r);
      });
}

absl::StatusOr<aiscore::v1::GetLeaderboardResponse> CollectorClient::GetLeaderboard(
    const aiscore::v1::GetLeaderboardRequest& request) {
  return Call<aiscore::v1::GetLeaderboardResponse>(
      "GetLeaderboard", [&](grpc::ClientContext* c, aiscore::v1::GetLeaderboardResponse* r) {
        return stub_->GetLeaderboard(c, request, r);
      });
}

absl::StatusOr<aiscore::v1::GetResultResponse> CollectorClient::GetResult(
    const aiscore::v1::GetResultRequest& request) {
  return Call<aiscore::v1::GetResultResponse>(
      "GetResult", [&](grpc::ClientContext* c, aiscore::v1::GetResultResponse* r) {
        return stub_->GetResult(c, request, r);
      });
}

absl::StatusOr<aiscore::v1::ListGpusResponse> CollectorClient::ListGpus(
    const aiscore::v1::ListGpusRequest& request) {
  return Call<aiscore::v1::ListGpusResponse>(
      "ListGpus", [&](grpc::ClientContext* c, aiscore::v1::ListGpusResponse* r) {
        return stub_->ListGpus(c, request, r);
      });
}

absl::StatusOr<aiscore::v1::PredictResponse> CollectorClient::Predict(
    const aiscore::v1::PredictRequest& request) {
  return Call<aiscore::v1::PredictResponse>(
      "Predict", [&](grpc::ClientContext* c, aiscore::v1::PredictResponse* r) {
        return stub_->Predict(c, request, r);
      });
}

}  // namespace aiscore
