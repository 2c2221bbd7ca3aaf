// aiscore-collector: serves the Collector gRPC service (collector/service/)
// over a SQLite result store.
//
//   aiscore-collector --db PATH --listen ADDR
//
// Prints "listening on HOST:PORT" (the port actually bound, so ADDR may end in
// :0) on stdout once it serves, and shuts down cleanly on SIGINT or SIGTERM
// (in-flight calls get a few seconds to finish), exiting 0. Exit 1 when the
// database cannot be opened or the address cannot be bound; 2 for bad flags.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "collector/service/collector_service.h"
#include "collector/store/result_store.h"
#include "collector/verify/submission_verifier.h"

namespace {

constexpr std::chrono::seconds kShutdownGrace{5};  // for in-flight calls on shutdown

int Serve(const std::string& db, const std::string& listen) {
  // Block the shutdown signals in every thread (the store's writer and gRPC's
  // threads inherit the mask); this thread waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<aiscore::collector::ResultStore>> store =
      aiscore::collector::ResultStore::Open(db);
  if (!store.ok()) {
    std::fprintf(stderr, "aiscore-collector: cannot open the database %s: %s\n", db.c_str(),
                 std::string(store.status().message()).c_str());
    return 1;
  }
  aiscore::SubmissionVerifier verifier;
  if (absl::Status s = verifier.RegisterBuiltInSuites(); !s.ok()) {
    std::fprintf(stderr, "aiscore-collector: cannot load the built-in suites: %s\n",
                 std::string(s.message()).c_str());
    return 1;
  }
  aiscore::collector::CollectorService service(store->get(), &verifier);

  grpc::ServerBuilder builder;
  aiscore::collector::ApplyServerLimits(&builder);
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr,
                 "aiscore-collector: cannot listen on %s (expected HOST:PORT, a free port, or "
                 "HOST:0 for any)\n",
                 listen.c_str());
    return 1;
  }
  const std::string::size_type colon = listen.rfind(':');
  const std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "aiscore-collector: signal %d, shutting down\n", signal_number);
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server->Wait();
  return 0;  // the store's destructor finishes queued writes
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"aiscore-collector: verifies, stores and ranks signed aiscore results"};
  std::string db;
  std::string listen;
  app.add_option("--db", db, "SQLite database file (created if missing)")->required();
  app.add_option("--listen", listen, "address to serve on, HOST:PORT (PORT 0: any free port)")
      ->required();
  CLI11_PARSE(app, argc, argv);
  return Serve(db, listen);
}
