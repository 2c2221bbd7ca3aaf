// aiscore-collector: serves the Collector gRPC service (collector/service/)
// over a SQLite result store, and the operator's commands on such a store.
//
//   aiscore-collector --db PATH --listen ADDR [--http ADDR] [--rate-per-peer R]
//                     [--rate-per-key R]
//   aiscore-collector admin ban|unban --db PATH WHO
//   aiscore-collector admin rescore --db PATH
//   aiscore-collector admin export --db PATH [--format csv|json] [--output FILE]
//   aiscore-collector admin backup --db PATH --to FILE
//   aiscore-collector admin calibration-report --db PATH
//
// Serving prints "listening on HOST:PORT" (the port actually bound, so ADDR
// may end in :0) on stdout once it serves, after "http on HOST:PORT" when
// --http serves /healthz and /metrics, and shuts down cleanly on SIGINT or
// SIGTERM (in-flight calls get a few seconds to finish), exiting 0. A database
// holding results stored before schema version 2 is rescored first. Exit 1
// when the database cannot be opened, the address cannot be bound or an admin
// command fails; 2 for bad flags.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "agent/bench/build_info.h"
#include "collector/admin/admin_commands.h"
#include "collector/http/collector_metrics.h"
#include "collector/http/http_server.h"
#include "collector/service/collector_service.h"
#include "collector/service/connection_listener.h"
#include "collector/service/predictor.h"
#include "collector/service/rate_limiter.h"
#include "collector/store/result_store.h"
#include "collector/verify/device_limits.h"
#include "collector/verify/submission_verifier.h"
#include "collector/web/site.h"

namespace {

using aiscore::collector::ResultStore;

constexpr std::chrono::seconds kShutdownGrace{5};  // for in-flight calls on shutdown
constexpr char kDefaultPerPeer[] = "10/s:100";     // per client host
constexpr char kDefaultPerKey[] = "60/h:20";       // per signing key

void PrintError(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "aiscore-collector: %s: %s\n", what.c_str(),
               std::string(s.message()).c_str());
}

std::unique_ptr<ResultStore> OpenStore(const std::string& db) {
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(db);
  if (!store.ok()) {
    PrintError("cannot open the database " + db, store.status());
    return nullptr;
  }
  return std::move(*store);
}

// Reports the service's events to the Prometheus metrics.
class MetricsObserver : public aiscore::collector::ServiceObserver {
 public:
  explicit MetricsObserver(aiscore::collector::CollectorMetrics* metrics) : metrics_(metrics) {}
  void OnSubmit(aiscore::v1::SubmitStatus status, aiscore::v1::RejectReason reason,
                double seconds) override {
    metrics_->RecordSubmit(status, reason, seconds);
  }
  void OnRpc(std::string_view method, grpc::StatusCode code, double seconds) override {
    metrics_->RecordRpc(method, static_cast<int>(code), seconds);
  }
  void OnRateLimited(std::string_view by) override { metrics_->RecordRateLimited(by); }

 private:
  aiscore::collector::CollectorMetrics* const metrics_;
};

struct ServeFlags {
  std::string db;
  std::string listen;
  std::string http;
  std::string rate_per_peer = kDefaultPerPeer;
  std::string rate_per_key = kDefaultPerKey;
  aiscore::collector::ConnectionLimits connections{aiscore::collector::kMaxConnections,
                                                   aiscore::collector::kMaxConnectionsPerHost};
};

int Serve(const ServeFlags& flags) {
  aiscore::collector::ServiceOptions options;
  for (auto [text, limit, name] :
       {std::tuple{&flags.rate_per_peer, &options.per_peer, "--rate-per-peer"},
        std::tuple{&flags.rate_per_key, &options.per_key, "--rate-per-key"}}) {
    absl::StatusOr<aiscore::collector::RateLimit> parsed =
        aiscore::collector::ParseRateLimit(*text);
    if (!parsed.ok()) {
      PrintError(name, parsed.status());
      return 2;
    }
    *limit = *parsed;
  }
  // Block the shutdown signals in every thread (the store's writer and gRPC's
  // threads inherit the mask); this thread waits for them with sigwait.
  // Two descriptors per open connection (ConnectionListener), plus the
  // store's, the HTTP side's and gRPC's own: raise the soft limit to the hard one.
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (rlimit files{};
      getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < 2 * static_cast<rlim_t>(flags.connections.max_connections) + 256) {
    std::fprintf(stderr,
                 "aiscore-collector: warning: %llu open files allowed; --max-connections %d "
                 "needs about %d, so some connections under the cap will be refused\n",
                 static_cast<unsigned long long>(files.rlim_cur), flags.connections.max_connections,
                 2 * flags.connections.max_connections + 256);
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<ResultStore> store = OpenStore(flags.db);
  if (store == nullptr) return 1;
  aiscore::SubmissionVerifier verifier(aiscore::CollectorVerifierOptions());
  if (absl::Status s = verifier.RegisterBuiltInSuites(); !s.ok()) {
    PrintError("cannot load the built-in suites", s);
    return 1;
  }
  absl::StatusOr<int64_t> unscored = store->CountUnscored();
  if (!unscored.ok()) {
    PrintError("cannot read the database " + flags.db, unscored.status());
    return 1;
  }
  if (*unscored > 0) {
    std::fprintf(stderr, "aiscore-collector: %lld results predate per-format scores; rescoring\n",
                 static_cast<long long>(*unscored));
    if (absl::Status s = aiscore::collector::RescoreAll(*store, verifier, std::cerr); !s.ok()) {
      PrintError("rescoring failed", s);
      return 1;
    }
  }
  aiscore::collector::CollectorMetrics::Options metric_options;
  metric_options.version =
      absl::StrCat(aiscore::build_info::kVersion, " (", aiscore::build_info::kGitCommit, ")");
  metric_options.database_bytes = [s = store.get()]() -> absl::StatusOr<double> {
    return static_cast<double>(s->DatabaseBytes());
  };
  metric_options.results_stored = [s = store.get()]() -> absl::StatusOr<double> {
    absl::StatusOr<int64_t> n = s->ResultCount();
    if (!n.ok()) return n.status();
    return static_cast<double>(*n);
  };
  aiscore::collector::CollectorMetrics metrics(std::move(metric_options));
  MetricsObserver observer(&metrics);
  options.observer = &observer;
  // Started once the server is; the per-peer limit asks it who a peer is.
  std::unique_ptr<aiscore::collector::ConnectionListener> listener;
  options.resolve_peer = [&listener](std::string_view peer) {
    return listener != nullptr ? listener->Peer(peer) : std::string(peer);
  };
  aiscore::collector::CollectorService service(store.get(), &verifier, options);

  std::unique_ptr<aiscore::collector::HttpServer> http;  // stops before what it reads
  if (!flags.http.empty()) {
    aiscore::collector::HttpServer::Options http_options;
    http_options.health = [s = store.get()] { return s->Ping(); };
    http_options.metrics = [&metrics] { return metrics.RenderPrometheus(); };
    aiscore::collector::web::AddSiteRoutes({.service = &service, .store = store.get()},
                                           http_options.routes);
    absl::StatusOr<std::unique_ptr<aiscore::collector::HttpServer>> started =
        aiscore::collector::HttpServer::Start(flags.http, std::move(http_options));
    if (!started.ok()) {
      PrintError("--http", started.status());
      return 1;
    }
    http = *std::move(started);
    std::printf("http on %s\n", http->address().c_str());
  }

  // gRPC gets its connections from the listener, which caps them; the
  // server itself listens on no port.
  grpc::ServerBuilder builder;
  aiscore::collector::ApplyServerLimits(&builder);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    std::fprintf(stderr, "aiscore-collector: the gRPC server did not start\n");
    return 1;
  }
  absl::StatusOr<std::unique_ptr<aiscore::collector::ConnectionListener>> started =
      aiscore::collector::ConnectionListener::Start(server.get(), flags.listen, flags.connections);
  if (!started.ok()) {
    PrintError("cannot listen on " + flags.listen +
                   " (expected HOST:PORT, a free port, or HOST:0 for any)",
               started.status());
    return 1;
  }
  listener = *std::move(started);
  const int port = listener->port();
  const std::string::size_type colon = flags.listen.rfind(':');
  const std::string host =
      colon == std::string::npos ? flags.listen : flags.listen.substr(0, colon);
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "aiscore-collector: signal %d, shutting down\n", signal_number);
  if (http != nullptr) http->Stop();
  listener->Stop();
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server->Wait();
  return 0;  // the store's destructor finishes queued writes
}

// Runs an admin command on the store at `db`: 0, or 1 with the error printed.
template <typename Command>
int Admin(const std::string& db, const std::string& what, Command command) {
  std::unique_ptr<ResultStore> store = OpenStore(db);
  if (store == nullptr) return 1;
  if (absl::Status s = command(*store); !s.ok()) {
    PrintError(what, s);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"aiscore-collector: verifies, stores and ranks signed aiscore results"};
  app.require_subcommand(0, 1);
  ServeFlags serve;
  app.add_option("--db", serve.db, "SQLite database file (created if missing)");
  app.add_option("--listen", serve.listen,
                 "address to serve gRPC on, HOST:PORT (PORT 0: any free port)");
  app.add_option("--http", serve.http,
                 "address to serve /healthz and Prometheus /metrics on, HOST:PORT; empty: none");
  app.add_option("--rate-per-peer", serve.rate_per_peer,
                 "Submit calls per client host: COUNT/PERIOD[:BURST] (10/s, 600/m:50, 1/10s) or "
                 "0 for no limit")
      ->capture_default_str();
  app.add_option("--rate-per-key", serve.rate_per_key, "Submit calls per signing key, same syntax")
      ->capture_default_str();
  app.add_option("--max-connections", serve.connections.max_connections,
                 "open gRPC connections in all; more are reset at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-connections-per-host", serve.connections.max_per_host,
                 "open gRPC connections from one host (an IPv4 address, an IPv6 /64)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));

  CLI::App* admin = app.add_subcommand("admin", "operator commands on a collector's database");
  admin->require_subcommand(1);
  std::string db;
  std::string who;
  CLI::App* ban = admin->add_subcommand("ban",
                                        "ban a key: its results leave the leaderboard, "
                                        "its submissions are rejected");
  CLI::App* unban = admin->add_subcommand("unban", "lift a ban");
  for (CLI::App* sub : {ban, unban}) {
    sub->add_option("--db", db, "SQLite database file")->required();
    sub->add_option("who", who,
                    "the key: its fingerprint (SHA256:...), its 64 hex digits, or result:ID")
        ->required();
  }
  CLI::App* rescore = admin->add_subcommand(
      "rescore", "recompute every result's scores and the leaderboards after a scoring change");
  rescore->add_option("--db", db, "SQLite database file")->required();
  CLI::App* export_cmd =
      admin->add_subcommand("export", "write every result (no envelopes) as CSV or JSON");
  export_cmd->add_option("--db", db, "SQLite database file")->required();
  std::string format = "csv";
  export_cmd->add_option("--format", format, "csv or json")
      ->check(CLI::IsMember({"csv", "json"}))
      ->capture_default_str();
  std::string output = "-";
  export_cmd->add_option("--output", output, "file to write, - for stdout")->capture_default_str();
  CLI::App* backup = admin->add_subcommand(
      "backup", "copy the database consistently while a collector may be serving it");
  backup->add_option("--db", db, "SQLite database file")->required();
  std::string to;
  backup->add_option("--to", to, "the new file to write (must not exist)")->required();
  CLI::App* calibration = admin->add_subcommand(
      "calibration-report",
      "fit the speed model to the stored results and print each GPU's fit and the measured "
      "prediction errors (leave one case out, leave one GPU out)");
  calibration->add_option("--db", db, "SQLite database file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  if (ban->parsed() || unban->parsed()) {
    const bool banned = ban->parsed();
    return Admin(db, banned ? "ban" : "unban", [&](ResultStore& store) {
      return aiscore::collector::Ban(store, who, banned, std::cout);
    });
  }
  if (rescore->parsed()) {
    return Admin(db, "rescore", [&](ResultStore& store) {
      aiscore::SubmissionVerifier verifier;
      if (absl::Status s = verifier.RegisterBuiltInSuites(); !s.ok()) return s;
      return aiscore::collector::RescoreAll(store, verifier, std::cout);
    });
  }
  if (export_cmd->parsed()) {
    return Admin(db, "export", [&](ResultStore& store) {
      const auto kind = format == "json" ? aiscore::collector::ExportFormat::kJson
                                         : aiscore::collector::ExportFormat::kCsv;
      if (output == "-") return aiscore::collector::Export(store, kind, std::cout);
      std::ofstream file(output, std::ios::binary | std::ios::trunc);
      if (!file) return absl::NotFoundError("cannot write " + output);
      return aiscore::collector::Export(store, kind, file);
    });
  }
  if (backup->parsed()) {
    return Admin(db, "backup", [&](ResultStore& store) {
      return aiscore::collector::BackupTo(store, to, std::cout);
    });
  }
  if (calibration->parsed()) {
    return Admin(db, "calibration-report", [&](ResultStore& store) -> absl::Status {
      aiscore::collector::Predictor predictor(&store);
      absl::StatusOr<std::shared_ptr<const aiscore::collector::Predictor::Fitted>> fitted =
          predictor.Current();
      if (!fitted.ok()) return fitted.status();
      std::cout << aiscore::collector::Predictor::Report(**fitted);
      return absl::OkStatus();
    });
  }
  if (serve.db.empty() || serve.listen.empty()) {
    std::fprintf(stderr,
                 "aiscore-collector: serving needs --db PATH and --listen HOST:PORT "
                 "(or an admin command; see --help)\n");
    return 2;
  }
  return Serve(serve);
}
