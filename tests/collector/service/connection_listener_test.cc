// ConnectionListener in front of a real gRPC server (the CollectorService over
// a real SQLite file) on loopback: the caps on open connections, in all and
// per host, places freed when connections close, idle connections closed by
// gRPC, and peers resolved for the per-peer rate limit.
#include "collector/service/connection_listener.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "collector/service/collector_service.h"
#include "tests/temp_dir.h"

namespace aiscore::collector {
namespace {

using std::chrono::milliseconds;

// Waits up to 10 s for `done`.
bool Eventually(const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return done();
}

// A plain TCP connection from `source` (a loopback address) to the port.
int Connect(int port, const char* source = "127.0.0.1") {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  return fd;
}

// Whether the server closed or reset the connection within `wait`
// (read returns 0 or fails) rather than leaving it open.
bool ClosedByServer(int fd, milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  const auto end = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < end) {
    if (poll(&p, 1, 10) > 0) {
      char buffer[4096];
      const ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n <= 0) return true;  // EOF or ECONNRESET
      // gRPC's SETTINGS (and GOAWAY) frames: keep reading.
    }
  }
  return false;
}

class ConnectionListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(dir_.Path("c.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  void TearDown() override {
    for (int fd : sockets_) close(fd);
    if (listener_) listener_->Stop();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  // Starts the service (no listening port of its own) behind a listener.
  void Start(ConnectionLimits limits, ServiceOptions options = {}) {
    options.resolve_peer = [this](std::string_view peer) { return listener_->Peer(peer); };
    service_ = std::make_unique<CollectorService>(store_.get(), &verifier_, options);
    grpc::ServerBuilder builder;
    ApplyServerLimits(&builder);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    absl::StatusOr<std::unique_ptr<ConnectionListener>> listener =
        ConnectionListener::Start(server_.get(), "127.0.0.1:0", limits);
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(*listener);
  }

  // A stub on a connection of its own (gRPC shares connections between
  // channels with the same arguments unless told not to).
  std::unique_ptr<v1::Collector::Stub> NewStub() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return v1::Collector::NewStub(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(listener_->port()),
                                  grpc::InsecureChannelCredentials(), args));
  }

  static grpc::Status ListGpus(v1::Collector::Stub* stub) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListGpusResponse response;
    return stub->ListGpus(&context, v1::ListGpusRequest(), &response);
  }

  int Open(const char* source = "127.0.0.1") {
    sockets_.push_back(Connect(listener_->port(), source));
    return sockets_.back();
  }

  TempDir dir_;
  std::unique_ptr<ResultStore> store_;
  SubmissionVerifier verifier_;
  std::unique_ptr<CollectorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ConnectionListener> listener_;
  std::vector<int> sockets_;
};

TEST_F(ConnectionListenerTest, ServesCallsOnTheConnectionsItAccepts) {
  Start({});
  auto stub = NewStub();
  EXPECT_TRUE(ListGpus(stub.get()).ok());
  EXPECT_TRUE(ListGpus(stub.get()).ok());  // the same connection
  const ConnectionListener::Counts counts = listener_->counts();
  EXPECT_EQ(counts.accepted, 1);
  EXPECT_EQ(counts.open, 1);
  EXPECT_EQ(counts.refused, 0);
}

TEST_F(ConnectionListenerTest, ConnectionsOverTheCapAreRefusedAndClosingOneFreesItsPlace) {
  Start({.max_connections = 3, .max_per_host = 100});
  std::vector<std::unique_ptr<v1::Collector::Stub>> stubs;
  for (int i = 0; i < 3; ++i) {
    stubs.push_back(NewStub());
    ASSERT_TRUE(ListGpus(stubs.back().get()).ok()) << i;
  }
  // The fourth is reset at once: UNAVAILABLE, not a wait for the deadline.
  auto fourth = NewStub();
  const auto before = std::chrono::steady_clock::now();
  const grpc::Status refused = ListGpus(fourth.get());
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
  EXPECT_GE(listener_->counts().refused, 1);
  EXPECT_EQ(listener_->counts().open, 3);
  // The first three still work.
  for (auto& stub : stubs) EXPECT_TRUE(ListGpus(stub.get()).ok());
  // A client that goes away frees its place for the next.
  stubs.pop_back();
  ASSERT_TRUE(Eventually([&] { return listener_->counts().open == 2; }));
  auto next = NewStub();
  EXPECT_TRUE(ListGpus(next.get()).ok());
  EXPECT_EQ(listener_->counts().open, 3);
}

TEST_F(ConnectionListenerTest, PerHostCapRefusesOneHostAndLetsOthersIn) {
  Start({.max_connections = 100, .max_per_host = 2});
  Open("127.0.0.1");
  Open("127.0.0.1");
  ASSERT_TRUE(Eventually([&] { return listener_->counts().open == 2; }));
  const int third = Open("127.0.0.1");
  EXPECT_TRUE(ClosedByServer(third, milliseconds(5000)));
  EXPECT_EQ(listener_->counts().refused, 1);
  // Another host (127.0.0.2 is loopback too) still gets in.
  const int other = Open("127.0.0.2");
  ASSERT_TRUE(Eventually([&] { return listener_->counts().open == 3; }));
  EXPECT_FALSE(ClosedByServer(other, milliseconds(200)));
}

TEST_F(ConnectionListenerTest, ManyConnectionsThatCloseNeverLeakPlaces) {
  Start({.max_connections = 8, .max_per_host = 8});
  for (int round = 0; round < 20; ++round) {
    std::vector<int> fds;
    for (int i = 0; i < 8; ++i) fds.push_back(Connect(listener_->port()));
    ASSERT_TRUE(Eventually([&] { return listener_->counts().open == 8; })) << round;
    for (int fd : fds) close(fd);
    ASSERT_TRUE(Eventually([&] { return listener_->counts().open == 0; })) << round;
  }
  EXPECT_EQ(listener_->counts().accepted, 160);
  EXPECT_EQ(listener_->counts().refused, 0);
  auto stub = NewStub();
  EXPECT_TRUE(ListGpus(stub.get()).ok());
}

TEST_F(ConnectionListenerTest, SilentConnectionsAreShutDownAndFreeTheirPlace) {
  Start({.max_connections = 1,
         .max_per_host = 1,
         .first_bytes_within = milliseconds(300),
         .idle_within = milliseconds(100000)});
  // Connects and never says a word.
  const int silent = Open();
  EXPECT_TRUE(ClosedByServer(silent, milliseconds(10000)));
  ASSERT_TRUE(Eventually([&] { return listener_->counts().open == 0; }));
  EXPECT_EQ(listener_->counts().silent, 1);
  // A client that speaks at once is served, past the deadline too.
  auto stub = NewStub();
  EXPECT_TRUE(ListGpus(stub.get()).ok());
  std::this_thread::sleep_for(milliseconds(600));
  EXPECT_TRUE(ListGpus(stub.get()).ok());
  EXPECT_EQ(listener_->counts().accepted, 2);
  EXPECT_EQ(listener_->counts().silent, 1);
}

TEST_F(ConnectionListenerTest, IdleClientsAreShutDownAndFreeTheirPlace) {
  Start({.max_connections = 1, .max_per_host = 1, .idle_within = milliseconds(300)});
  auto idle = NewStub();
  ASSERT_TRUE(ListGpus(idle.get()).ok());
  // Calls keep the connection in use past the idle limit.
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    ASSERT_TRUE(ListGpus(idle.get()).ok()) << i;
  }
  EXPECT_EQ(listener_->counts().accepted, 1);
  // Then nothing for longer than the limit: the one place is freed for another client.
  ASSERT_TRUE(Eventually([&] { return listener_->counts().open == 0; }));
  EXPECT_EQ(listener_->counts().idle, 1);
  auto next = NewStub();
  EXPECT_TRUE(ListGpus(next.get()).ok());
}

TEST_F(ConnectionListenerTest, PerPeerRateLimitSeesTheHostAcrossConnections) {
  ServiceOptions options;
  options.per_peer = RateLimit{0.001, 1};  // one call, then one per 1000 s
  Start({}, options);
  auto first = NewStub();
  auto second = NewStub();  // another connection from the same host
  grpc::ClientContext c1, c2;
  v1::SubmitResponse response;
  const grpc::Status a = first->Submit(&c1, v1::SubmitRequest(), &response);
  EXPECT_NE(a.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << a.error_message();
  const grpc::Status b = second->Submit(&c2, v1::SubmitRequest(), &response);
  EXPECT_EQ(b.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << b.error_message();
  EXPECT_EQ(listener_->counts().accepted, 2);
}

TEST_F(ConnectionListenerTest, PeerNamesTheAddressOfAnAcceptedConnection) {
  Start({});
  const int fd = Open();
  ASSERT_TRUE(Eventually([&] { return listener_->counts().open == 1; }));
  sockaddr_in local{};
  socklen_t length = sizeof(local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  const std::string expected = "ipv4:127.0.0.1:" + std::to_string(ntohs(local.sin_port));
  bool found = false;
  for (int n = 0; n < 1024 && !found; ++n) {
    found = listener_->Peer("fd:" + std::to_string(n)) == expected;
  }
  EXPECT_TRUE(found) << expected;
  EXPECT_EQ(listener_->Peer("ipv4:10.0.0.1:5"), "ipv4:10.0.0.1:5");
  EXPECT_EQ(listener_->Peer("fd:x"), "fd:x");
}

TEST_F(ConnectionListenerTest, BadAddressesAreErrorsNamingThem) {
  Start({});
  for (const char* address :
       {"nonsense", "127.0.0.1:99999", "127.0.0.1:port", "no.such.host.invalid:1"}) {
    absl::StatusOr<std::unique_ptr<ConnectionListener>> l =
        ConnectionListener::Start(server_.get(), address);
    ASSERT_FALSE(l.ok()) << address;
    EXPECT_NE(l.status().message().find(address), std::string::npos) << l.status();
  }
  // The port the fixture's listener holds.
  const std::string taken = "127.0.0.1:" + std::to_string(listener_->port());
  absl::StatusOr<std::unique_ptr<ConnectionListener>> second =
      ConnectionListener::Start(server_.get(), taken);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(taken), std::string::npos) << second.status();
  EXPECT_FALSE(
      ConnectionListener::Start(server_.get(), "127.0.0.1:0", {.max_connections = 0}).ok());
}

}  // namespace
}  // namespace aiscore::collector
