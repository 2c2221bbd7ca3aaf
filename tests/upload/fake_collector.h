// A Collector service for tests, served by a real gRPC server on a loopback
// port: it verifies envelopes with agent/sign, stores accepted results by
// nonce (a repeated nonce is a DUPLICATE with the first id), and can be told
// to fail the first Submit calls with UNAVAILABLE, to answer every Submit with
// a given error or a REJECTED response, or to stall past the deadline. The
// read methods return canned responses and keep the last request.
//
// Thread-safe: the server's threads call it while the test reads counters.
#ifndef AISCORE_TESTS_UPLOAD_FAKE_COLLECTOR_H_
#define AISCORE_TESTS_UPLOAD_FAKE_COLLECTOR_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aiscore/v1/collector.grpc.pb.h"

namespace aiscore {

class FakeCollector final : public aiscore::v1::Collector::Service {
 public:
  // Starts serving on 127.0.0.1 at a free port.
  FakeCollector();
  ~FakeCollector() override;

  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

  // Behaviour of Submit; set before the calls.
  void FailFirstSubmits(int n);  // UNAVAILABLE for the first n calls
  void FailEverySubmit(grpc::StatusCode code, const std::string& message);
  void RejectEverySubmit(aiscore::v1::RejectReason reason, const std::string& message);
  // The first n calls sleep `delay` before answering.
  void StallFirstSubmits(int n, std::chrono::milliseconds delay);
  void set_leaderboard(const aiscore::v1::GetLeaderboardResponse& response);
  void set_predict(const aiscore::v1::PredictResponse& response);

  int submit_calls() const;
  // Nonce -> id of every stored result.
  std::map<std::string, std::string> stored() const;
  aiscore::v1::GetLeaderboardRequest last_leaderboard_request() const;
  aiscore::v1::PredictRequest last_predict_request() const;
  // Time left before each call's deadline when it arrived, in call order.
  std::vector<std::chrono::milliseconds> deadlines() const;

  grpc::Status Submit(grpc::ServerContext* context, const aiscore::v1::SubmitRequest* request,
                      aiscore::v1::SubmitResponse* response) override;
  grpc::Status GetLeaderboard(grpc::ServerContext* context,
                              const aiscore::v1::GetLeaderboardRequest* request,
                              aiscore::v1::GetLeaderboardResponse* response) override;
  grpc::Status GetResult(grpc::ServerContext* context, const aiscore::v1::GetResultRequest* request,
                         aiscore::v1::GetResultResponse* response) override;
  grpc::Status ListGpus(grpc::ServerContext* context, const aiscore::v1::ListGpusRequest* request,
                        aiscore::v1::ListGpusResponse* response) override;
  grpc::Status Predict(grpc::ServerContext* context, const aiscore::v1::PredictRequest* request,
                       aiscore::v1::PredictResponse* response) override;

 private:
  void RecordDeadline(const grpc::ServerContext* context);  // mu_ held

  mutable std::mutex mu_;
  int unavailable_first_ = 0;
  grpc::StatusCode error_code_ = grpc::StatusCode::OK;
  std::string error_message_;
  bool reject_ = false;
  aiscore::v1::RejectReason reject_reason_ = aiscore::v1::REJECT_REASON_UNSPECIFIED;
  std::string reject_message_;
  int stall_first_ = 0;
  std::chrono::milliseconds stall_{0};
  int submit_calls_ = 0;
  std::map<std::string, std::string> stored_;
  aiscore::v1::GetLeaderboardResponse leaderboard_;
  aiscore::v1::PredictResponse predict_;
  aiscore::v1::GetLeaderboardRequest last_leaderboard_;
  aiscore::v1::PredictRequest last_predict_;
  std::vector<std::chrono::milliseconds> deadlines_;

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// A loopback port nothing listens on (bound, then closed).
int ClosedPort();

}  // namespace aiscore

#endif  // AISCORE_TESTS_UPLOAD_FAKE_COLLECTOR_H_
