#include "tests/upload/fake_collector.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "agent/sign/envelope.h"

namespace aiscore {

FakeCollector::FakeCollector() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
}

FakeCollector::~FakeCollector() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

void FakeCollector::FailFirstSubmits(int n) {
  std::lock_guard<std::mutex> l(mu_);
  unavailable_first_ = n;
}

void FakeCollector::FailEverySubmit(grpc::StatusCode code, const std::string& message) {
  std::lock_guard<std::mutex> l(mu_);
  error_code_ = code;
  error_message_ = message;
}

void FakeCollector::RejectEverySubmit(aiscore::v1::RejectReason reason,
                                      const std::string& message) {
  std::lock_guard<std::mutex> l(mu_);
  reject_ = true;
  reject_reason_ = reason;
  reject_message_ = message;
}

void FakeCollector::StallFirstSubmits(int n, std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> l(mu_);
  stall_first_ = n;
  stall_ = delay;
}

void FakeCollector::set_leaderboard(const aiscore::v1::GetLeaderboardResponse& response) {
  std::lock_guard<std::mutex> l(mu_);
  leaderboard_ = response;
}

void FakeCollector::set_predict(const aiscore::v1::PredictResponse& response) {
  std::lock_guard<std::mutex> l(mu_);
  predict_ = response;
}

int FakeCollector::submit_calls() const {
  std::lock_guard<std::mutex> l(mu_);
  return submit_calls_;
}

std::map<std::string, std::string> FakeCollector::stored() const {
  std::lock_guard<std::mutex> l(mu_);
  return stored_;
}

aiscore::v1::GetLeaderboardRequest FakeCollector::last_leaderboard_request() const {
  std::lock_guard<std::mutex> l(mu_);
  return last_leaderboard_;
}

aiscore::v1::PredictRequest FakeCollector::last_predict_request() const {
  std::lock_guard<std::mutex> l(mu_);
  return last_predict_;
}

std::vector<std::chrono::milliseconds> FakeCollector::deadlines() const {
  std::lock_guard<std::mutex> l(mu_);
  return deadlines_;
}

void FakeCollector::RecordDeadline(const grpc::ServerContext* context) {
  deadlines_.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
      context->deadline() - std::chrono::system_clock::now()));
}

grpc::Status FakeCollector::Submit(grpc::ServerContext* context,
                                   const aiscore::v1::SubmitRequest* request,
                                   aiscore::v1::SubmitResponse* response) {
  std::chrono::milliseconds stall{0};
  {
    std::lock_guard<std::mutex> l(mu_);
    ++submit_calls_;
    RecordDeadline(context);
    if (submit_calls_ <= stall_first_) stall = stall_;
  }
  if (stall.count() > 0) std::this_thread::sleep_for(stall);
  std::lock_guard<std::mutex> l(mu_);
  if (submit_calls_ <= unavailable_first_) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "collector is starting up");
  }
  if (error_code_ != grpc::StatusCode::OK) return grpc::Status(error_code_, error_message_);
  if (!request->has_envelope()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no envelope");
  }
  absl::StatusOr<aiscore::v1::RunResult> result = VerifyEnvelope(request->envelope());
  if (!result.ok()) {
    response->set_status(aiscore::v1::SUBMIT_STATUS_REJECTED);
    response->set_reason(aiscore::v1::REJECT_REASON_SIGNATURE);
    response->set_message(std::string(result.status().message()));
    return grpc::Status::OK;
  }
  if (reject_) {
    response->set_status(aiscore::v1::SUBMIT_STATUS_REJECTED);
    response->set_reason(reject_reason_);
    response->set_message(reject_message_);
    return grpc::Status::OK;
  }
  auto [it, inserted] =
      stored_.emplace(result->nonce(), "result-" + std::to_string(stored_.size() + 1));
  response->set_id(it->second);
  response->set_status(inserted ? aiscore::v1::SUBMIT_STATUS_ACCEPTED
                                : aiscore::v1::SUBMIT_STATUS_DUPLICATE);
  response->set_score(1234.5);
  return grpc::Status::OK;
}

grpc::Status FakeCollector::GetLeaderboard(grpc::ServerContext* context,
                                           const aiscore::v1::GetLeaderboardRequest* request,
                                           aiscore::v1::GetLeaderboardResponse* response) {
  std::lock_guard<std::mutex> l(mu_);
  RecordDeadline(context);
  last_leaderboard_ = *request;
  *response = leaderboard_;
  return grpc::Status::OK;
}

grpc::Status FakeCollector::GetResult(grpc::ServerContext* context,
                                      const aiscore::v1::GetResultRequest* request,
                                      aiscore::v1::GetResultResponse* response) {
  std::lock_guard<std::mutex> l(mu_);
  RecordDeadline(context);
  for (const auto& [nonce, id] : stored_) {
    if (id == request->id()) {
      response->set_id(id);
      response->mutable_result()->set_nonce(nonce);
      return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::NOT_FOUND, "no result " + request->id());
}

grpc::Status FakeCollector::ListGpus(grpc::ServerContext* context,
                                     const aiscore::v1::ListGpusRequest* request,
                                     aiscore::v1::ListGpusResponse* response) {
  std::lock_guard<std::mutex> l(mu_);
  RecordDeadline(context);
  aiscore::v1::GpuSummary* gpu = response->add_gpus();
  gpu->set_name("NVIDIA GeForce RTX 4090");
  gpu->set_results(static_cast<int64_t>(stored_.size()));
  return grpc::Status::OK;
}

grpc::Status FakeCollector::Predict(grpc::ServerContext* context,
                                    const aiscore::v1::PredictRequest* request,
                                    aiscore::v1::PredictResponse* response) {
  std::lock_guard<std::mutex> l(mu_);
  RecordDeadline(context);
  last_predict_ = *request;
  *response = predict_;
  return grpc::Status::OK;
}

int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace aiscore
