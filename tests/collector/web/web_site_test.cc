// The collector's web site end to end: the real aiscore-collector binary on a
// fresh SQLite file, seeded through gRPC Submit with signed suite-v1 results
// of several GPUs (one of them named in markup), read back three ways:
//   - the JSON API (/api/v1) against the gRPC answers, message for message;
//   - every page in a real headless Chromium (chromedriver): no console
//     errors, leaderboard rows and figures equal to a brute-force computation
//     over the database file, filters, sorting and pagination clicked through,
//     the prediction form filled in and answered, markup from a submission
//     shown as text; a screenshot of each page is kept under
//     AISCORE_WEB_ARTIFACTS.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/sign/envelope.h"
#include "agent/sign/key_pair.h"
#include "aiscore/v1/collector.grpc.pb.h"
#include "collector/store/sqlite_db.h"
#include "nlohmann/json.hpp"
#include "scoring/statistics.h"
#include "suites/suite_loader.h"
#include "tests/collector/collector_process.h"
#include "tests/collector/quick_result.h"
#include "tests/collector/web/web_driver.h"
#include "tests/temp_dir.h"

namespace aiscore {
namespace {

// What the seeded results claim to be.
struct SeedGroup {
  std::string gpu;  // reported GPU name; empty for a CPU-only result
  int64_t gpu_memory = 0;
  std::string cpu = "AMD Ryzen 9 7950X 16-Core Processor";
  std::string backend = "cuda";
  int results = 0;
  double speed = 1;  // times the reference device
};

// A GPU name and a build string full of markup, as a hostile agent would send.
const std::string kEvilGpu = "<b id=\"evil\">Evil</b><script>console.error('xss')</script> GPU";
const std::string kEvilBuild = "<i id=\"evil-build\">1</i><img src=x onerror=alert(1)>";

const SeedGroup kSeed[] = {
    {"NVIDIA GeForce RTX 4090", 24LL << 30, "", "cuda", 12, 2.0},
    {"NVIDIA H100 80GB HBM3", 80LL << 30, "", "cuda", 6, 3.5},
    {"NVIDIA GeForce RTX 3060", 12LL << 30, "", "cuda", 4, 0.8},
    {"NVIDIA A100-SXM4-80GB", 80LL << 30, "", "cuda", 3, 2.5},
    {"", 0, "AMD Ryzen 9 7950X 16-Core Processor", "cpu", 3, 0.2},
    {kEvilGpu, 8LL << 30, "", "cuda", 1, 1.0},
};

// One ranked (gpu, backend) group computed by brute force from the file.
struct Group {
  std::string gpu, backend;
  std::vector<double> scores;
  std::vector<std::string> ids;
  double median = 0, p25 = 0, p75 = 0, best = 0;
  std::string best_id;
};

// The collector, its database and the seeded results, shared by the tests.
struct Site {
  TempDir dir;
  std::unique_ptr<CollectorProcess> collector;
  std::string grpc_target;
  int http_port = 0;
  std::unique_ptr<v1::Collector::Stub> stub;
  std::vector<std::string> ids;  // every stored result
  std::string evil_id;
};
Site* site = nullptr;

std::string Url(const std::string& path) {
  return absl::StrCat("http://127.0.0.1:", site->http_port, path);
}

std::unique_ptr<grpc::ClientContext> Deadline() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return c;
}

// The ranked groups of suite v1 over every format, by median score
// descending (ties: gpu, backend), from the database file itself.
std::vector<Group> GroupsFromDatabase() {
  collector::Database::Options options;
  options.read_only = true;
  absl::StatusOr<std::unique_ptr<collector::Database>> db =
      collector::Database::Open(site->dir.Path("web.db"), options);
  EXPECT_TRUE(db.ok()) << db.status();
  if (!db.ok()) return {};
  absl::StatusOr<collector::Statement> s = (*db)->Prepare(
      "SELECT r.gpu, r.backend, s.score, r.id FROM results r JOIN result_scores s ON "
      "s.result_id = r.id AND s.format = '' WHERE r.ranked = 1 AND r.suite = 'v1'");
  EXPECT_TRUE(s.ok()) << s.status();
  std::map<std::pair<std::string, std::string>, Group> groups;
  while (s.ok() && *s->Step()) {
    Group& g = groups[{s->ColumnBytes(0), s->ColumnBytes(1)}];
    g.gpu = s->ColumnBytes(0);
    g.backend = s->ColumnBytes(1);
    g.scores.push_back(s->ColumnDouble(2));
    g.ids.push_back(s->ColumnBytes(3));
  }
  std::vector<Group> out;
  for (auto& [key, g] : groups) {
    g.median = Quantile(g.scores, 0.5);
    g.p25 = Quantile(g.scores, 0.25);
    g.p75 = Quantile(g.scores, 0.75);
    for (size_t i = 0; i < g.scores.size(); ++i) {
      if (g.scores[i] > g.best || (g.scores[i] == g.best && g.ids[i] < g.best_id)) {
        g.best = g.scores[i];
        g.best_id = g.ids[i];
      }
    }
    out.push_back(g);
  }
  std::sort(out.begin(), out.end(), [](const Group& a, const Group& b) {
    if (a.median != b.median) return a.median > b.median;
    return std::tie(a.gpu, a.backend) < std::tie(b.gpu, b.backend);
  });
  return out;
}

// The median of one case's metric over a group's results, from the file.
double CaseMedianFromDatabase(const std::string& gpu, const std::string& backend,
                              const std::string& case_name, const std::string& metric) {
  collector::Database::Options options;
  options.read_only = true;
  absl::StatusOr<std::unique_ptr<collector::Database>> db =
      collector::Database::Open(site->dir.Path("web.db"), options);
  absl::StatusOr<collector::Statement> s = (*db)->Prepare(
      "SELECT c.median FROM results r JOIN cases c ON c.result_id = r.id WHERE r.ranked = 1 AND "
      "r.gpu = ?1 AND r.backend = ?2 AND c.case_name = ?3 AND c.metric = ?4");
  EXPECT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->BindAll(gpu, backend, case_name, metric).ok());
  std::vector<double> v;
  while (*s->Step()) v.push_back(s->ColumnDouble(0));
  return Median(v);
}

double Number(const std::string& text) {
  try {
    return std::stod(text);
  } catch (...) {
    ADD_FAILURE() << "not a number: '" << text << "'";
    return NAN;
  }
}

class WebSiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    site = new Site;
    site->collector = std::make_unique<CollectorProcess>(
        site->dir.Path("web.db"),
        std::vector<std::string>{"--http", "127.0.0.1:0", "--rate-per-key", "off",
                                 "--rate-per-peer", "off"});
    ASSERT_TRUE(site->collector->started());
    std::smatch m;
    const std::string http_line = site->collector->ReadLine();
    ASSERT_TRUE(std::regex_match(http_line, m, std::regex("http on 127\\.0\\.0\\.1:([0-9]+)")))
        << http_line;
    site->http_port = std::stoi(m[1].str());
    const std::string grpc_line = site->collector->ReadLine();
    ASSERT_TRUE(std::regex_match(grpc_line, m, std::regex("listening on (127\\.0\\.0\\.1:[0-9]+)")))
        << grpc_line;
    site->grpc_target = m[1].str();
    site->stub = v1::Collector::NewStub(
        grpc::CreateChannel(site->grpc_target, grpc::InsecureChannelCredentials()));

    absl::StatusOr<LoadedSuite> v1 = LoadSuite("v1");
    ASSERT_TRUE(v1.ok()) << v1.status();
    absl::StatusOr<KeyPair> key = KeyPair::Generate();
    ASSERT_TRUE(key.ok());
    for (const SeedGroup& g : kSeed) {
      for (int i = 0; i < g.results; ++i) {
        v1::RunResult r = QuickResult(*v1, absl::Now(), g.speed * (1 + 0.04 * i));
        r.mutable_hardware()->mutable_cpu()->set_model(g.cpu);
        r.mutable_hardware()->mutable_cpu()->set_cores(16);
        r.mutable_backend()->set_name(g.backend);
        r.mutable_backend()->set_device_name(g.gpu.empty() ? g.cpu : g.gpu);
        if (!g.gpu.empty()) {
          v1::GpuInfo* gpu = r.mutable_hardware()->add_gpus();
          gpu->set_name(g.gpu);
          gpu->set_memory_bytes(g.gpu_memory);
          gpu->set_driver_version("550.54.15");
        }
        r.mutable_software()->set_version(g.gpu == kEvilGpu ? kEvilBuild : "0.1.0");
        r.mutable_software()->set_git_commit("0123456789ab");
        for (v1::CaseResult& c : *r.mutable_cases()) c.set_model("target-7b");
        absl::StatusOr<v1::SignedResult> envelope = SignRunResult(r, *key);
        ASSERT_TRUE(envelope.ok()) << envelope.status();
        v1::SubmitRequest request;
        *request.mutable_envelope() = *envelope;
        v1::SubmitResponse response;
        const grpc::Status s = site->stub->Submit(Deadline().get(), request, &response);
        ASSERT_TRUE(s.ok()) << s.error_message();
        ASSERT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED) << response.message();
        site->ids.push_back(response.id());
        if (g.gpu == kEvilGpu) site->evil_id = response.id();
      }
    }
  }
  static void TearDownTestSuite() {
    delete site;
    site = nullptr;
  }
};

// ---- JSON API ---------------------------------------------------------------

// GET `path` from the JSON API and parse it into `message`; the HTTP status.
template <typename Message>
int GetJson(const std::string& path, Message* message) {
  httplib::Client http("127.0.0.1", site->http_port);
  httplib::Result r = http.Get(path);
  EXPECT_TRUE(r) << path;
  if (!r) return 0;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << path;
  if (r->status == 200) {
    google::protobuf::util::JsonParseOptions options;
    const auto parsed = google::protobuf::util::JsonStringToMessage(r->body, message, options);
    EXPECT_TRUE(parsed.ok()) << path << ": " << parsed.ToString() << "\n" << r->body;
  } else {
    nlohmann::json error = nlohmann::json::parse(r->body, nullptr, false);
    EXPECT_FALSE(error.is_discarded()) << r->body;
    EXPECT_EQ(error["error"]["http_status"], r->status) << r->body;
    EXPECT_FALSE(error["error"]["message"].get<std::string>().empty()) << r->body;
  }
  return r->status;
}

template <typename Message>
void ExpectSame(const Message& json, const Message& grpc, const std::string& what) {
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(json, grpc))
      << what << "\nJSON: " << json.DebugString() << "\ngRPC: " << grpc.DebugString();
}

TEST_F(WebSiteTest, JsonApiAnswersEqualTheGrpcAnswers) {
  struct Board {
    std::string query;
    v1::GetLeaderboardRequest request;
  };
  std::vector<Board> boards(4);
  boards[1].query = "?format=q4_k";
  boards[1].request.set_format("q4_k");
  boards[2].query = "?backend=cpu";
  boards[2].request.set_backend("cpu");
  boards[3].query = "?sort=name&page_size=2&page_token=2&gpu=nvidia";
  boards[3].request.set_sort(v1::LEADERBOARD_SORT_NAME);
  boards[3].request.set_page_size(2);
  boards[3].request.set_page_token("2");
  boards[3].request.set_gpu_filter("nvidia");
  for (const Board& b : boards) {
    v1::GetLeaderboardResponse json, grpc;
    ASSERT_EQ(GetJson("/api/v1/leaderboard" + b.query, &json), 200);
    ASSERT_TRUE(site->stub->GetLeaderboard(Deadline().get(), b.request, &grpc).ok());
    EXPECT_FALSE(grpc.entries().empty()) << b.query;
    ExpectSame(json, grpc, "leaderboard" + b.query);
  }

  v1::ListGpusResponse gpus_json, gpus_grpc;
  ASSERT_EQ(GetJson("/api/v1/gpus", &gpus_json), 200);
  ASSERT_TRUE(site->stub->ListGpus(Deadline().get(), v1::ListGpusRequest(), &gpus_grpc).ok());
  EXPECT_EQ(gpus_grpc.gpus_size(), static_cast<int>(std::size(kSeed)));
  ExpectSame(gpus_json, gpus_grpc, "gpus");

  for (const std::string& id : {site->ids.front(), site->ids.back(), site->evil_id}) {
    v1::GetResultResponse json, grpc;
    ASSERT_EQ(GetJson("/api/v1/results/" + id, &json), 200);
    v1::GetResultRequest request;
    request.set_id(id);
    ASSERT_TRUE(site->stub->GetResult(Deadline().get(), request, &grpc).ok());
    ExpectSame(json, grpc, "result " + id);
  }

  v1::PredictResponse predict_json, predict_grpc;
  ASSERT_EQ(GetJson("/api/v1/predict?gpu=NVIDIA%20GeForce%20RTX%204090&model=llama-3.1-8b"
                    "&format=q4_k&context=8192",
                    &predict_json),
            200);
  v1::PredictRequest ask;
  ask.mutable_gpu()->set_name("NVIDIA GeForce RTX 4090");
  ask.mutable_model()->set_preset("llama-3.1-8b");
  ask.set_format("q4_k");
  ask.set_context_tokens(8192);
  ASSERT_TRUE(site->stub->Predict(Deadline().get(), ask, &predict_grpc).ok());
  EXPECT_GT(predict_grpc.results(), 0);  // fitted to the seeded results
  ExpectSame(predict_json, predict_grpc, "predict");

  // Errors: the gRPC code's HTTP status and a JSON body saying why.
  v1::GetResultResponse none;
  EXPECT_EQ(GetJson("/api/v1/results/no-such-id", &none), 404);
  v1::GetLeaderboardResponse bad;
  EXPECT_EQ(GetJson("/api/v1/leaderboard?format=q9_z", &bad), 400);
  EXPECT_EQ(GetJson("/api/v1/leaderboard?page_size=many", &bad), 400);
  EXPECT_EQ(GetJson("/api/v1/leaderboard?sort=fastest", &bad), 400);
  v1::PredictResponse unknown;
  EXPECT_EQ(GetJson("/api/v1/predict?gpu=Voodoo%205&model=llama-3.1-8b&format=q4_k", &unknown),
            404);
  EXPECT_EQ(GetJson("/api/v1/predict?gpu=NVIDIA%20H100&model=llama-3.1-8b&format=q4_k&context=x",
                    &unknown),
            400);
}

// Found by http_handlers_fuzzer's long run: a query parameter that is not
// UTF-8 came back verbatim inside the leaderboard's JSON ("suite": "v\xff"),
// which then did not parse. Such a request is now a 400 naming the
// parameter, for every endpoint; valid UTF-8 beyond ASCII still answers.
TEST_F(WebSiteTest, RegressionNonUtf8ParameterMadeInvalidJson) {
  v1::GetLeaderboardResponse board;
  EXPECT_EQ(GetJson("/api/v1/leaderboard?suite=v%FF", &board), 400);
  EXPECT_EQ(GetJson("/api/v1/leaderboard?gpu=%C0%AF", &board), 400);     // overlong '/'
  EXPECT_EQ(GetJson("/api/v1/leaderboard?gpu=%ED%A0%80", &board), 400);  // a surrogate
  EXPECT_EQ(GetJson("/api/v1/leaderboard?%FF=1", &board), 400);
  v1::ListGpusResponse gpus;
  EXPECT_EQ(GetJson("/api/v1/gpus?suite=%FE", &gpus), 400);
  v1::PredictResponse predict;
  EXPECT_EQ(GetJson("/api/v1/predict?gpu=%FF&model=llama-3.1-8b&format=q4_k", &predict), 400);
  v1::GetResultResponse result;
  EXPECT_EQ(GetJson("/api/v1/results/%FF", &result), 400);
  httplib::Client http("127.0.0.1", site->http_port);
  httplib::Result r = http.Get("/api/v1/leaderboard?suite=v%FF");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("'suite' is not valid UTF-8"), std::string::npos) << r->body;
  // Valid UTF-8 that names nothing is answered as before.
  EXPECT_EQ(GetJson("/api/v1/leaderboard?gpu=%E2%9C%93", &board), 200);
}

// ---- Pages in a real browser --------------------------------------------------

class BrowserTest : public WebSiteTest {
 protected:
  void SetUp() override {
    if (WebDriver::FindChromedriver().empty()) {
      GTEST_SKIP() << "chromedriver is not installed (Debian: apt-get install chromium "
                      "chromium-driver); scripts/setup.sh installs it";
    }
    browser_ = std::make_unique<WebDriver>();
    ASSERT_TRUE(browser_->ready()) << "chromedriver did not start a headless Chromium session";
  }

  // Loads `path` (or follows a click already made when empty), then checks
  // the console is clean and keeps a screenshot named `name`.
  void Load(const std::string& path, const std::string& name) {
    if (!path.empty()) browser_->Navigate(Url(path));
    ExpectCleanConsole(name);
    const std::string png = browser_->Screenshot();
    EXPECT_GT(png.size(), 1000u) << name;
    std::filesystem::create_directories(AISCORE_WEB_ARTIFACTS);
    std::ofstream(std::filesystem::path(AISCORE_WEB_ARTIFACTS) / (name + ".png"), std::ios::binary)
        << png;
  }

  void ExpectCleanConsole(const std::string& page) {
    for (const std::string& line : browser_->ConsoleLog()) {
      ADD_FAILURE() << page << " (" << browser_->CurrentUrl() << ") console: " << line;
    }
  }

  struct Row {
    std::string gpu, backend;
    double median, p25, p75, best;
    int64_t results;
  };
  std::vector<Row> Rows() {
    std::vector<Row> rows;
    const int n = static_cast<int>(browser_->FindAll("#leaderboard tbody tr").size());
    for (int i = 1; i <= n; ++i) {
      const std::string tr = absl::StrCat("#leaderboard tbody tr:nth-child(", i, ") ");
      rows.push_back(
          Row{browser_->Text(browser_->Find(tr + "td.gpu")),
              browser_->Text(browser_->Find(tr + "td.backend")),
              Number(browser_->Text(browser_->Find(tr + "td.median"))),
              Number(browser_->Text(browser_->Find(tr + "span.p25"))),
              Number(browser_->Text(browser_->Find(tr + "span.p75"))),
              Number(browser_->Text(browser_->Find(tr + "td.best"))),
              static_cast<int64_t>(Number(browser_->Text(browser_->Find(tr + "td.results"))))});
    }
    return rows;
  }

  // The page's rows equal `want` in order, figures to the one decimal shown.
  void ExpectRows(const std::vector<Group>& want, const std::string& what) {
    const std::vector<Row> rows = Rows();
    ASSERT_EQ(rows.size(), want.size()) << what;
    for (size_t i = 0; i < rows.size(); ++i) {
      SCOPED_TRACE(what + ": row " + std::to_string(i + 1) + " " + want[i].gpu);
      EXPECT_EQ(rows[i].gpu, want[i].gpu);
      EXPECT_EQ(rows[i].backend, want[i].backend);
      EXPECT_EQ(rows[i].results, static_cast<int64_t>(want[i].scores.size()));
      EXPECT_NEAR(rows[i].median, want[i].median, 0.051);
      EXPECT_NEAR(rows[i].p25, want[i].p25, 0.051);
      EXPECT_NEAR(rows[i].p75, want[i].p75, 0.051);
      EXPECT_NEAR(rows[i].best, want[i].best, 0.051);
    }
  }

  std::unique_ptr<WebDriver> browser_;
};

TEST_F(BrowserTest, LeaderboardRowsAndFiguresMatchTheDatabase) {
  Load("/", "leaderboard");
  EXPECT_EQ(browser_->Title(), "Leaderboard \xC2\xB7 aiscore");
  const std::vector<Group> groups = GroupsFromDatabase();
  ASSERT_EQ(groups.size(), std::size(kSeed));
  ExpectRows(groups, "leaderboard");
  // The best link leads to that result.
  EXPECT_TRUE(absl::EndsWith(browser_->Attribute(browser_->Find("#leaderboard td.best a"), "href"),
                             "/result/" + groups[0].best_id));
}

TEST_F(BrowserTest, FiltersSortingAndPaginationWork) {
  const std::vector<Group> groups = GroupsFromDatabase();
  Load("/", "leaderboard-before-filter");
  browser_->Type(browser_->Find("input[name=name]"), "4090");
  browser_->Click(browser_->Find("#apply"));
  Load("", "leaderboard-name-filter");
  EXPECT_NE(browser_->CurrentUrl().find("name=4090"), std::string::npos) << browser_->CurrentUrl();
  std::vector<Group> want;
  for (const Group& g : groups) {
    if (absl::StrContains(g.gpu, "4090")) want.push_back(g);
  }
  ExpectRows(want, "name 4090");

  // Backend: cpu only (the name filter cleared first).
  Load("/", "leaderboard-reset");
  browser_->Click(browser_->Find("select[name=backend] option[value=cpu]"));
  browser_->Click(browser_->Find("#apply"));
  Load("", "leaderboard-backend-filter");
  want.clear();
  for (const Group& g : groups) {
    if (g.backend == "cpu") want.push_back(g);
  }
  ExpectRows(want, "backend cpu");

  // Sorting by name through the column header.
  Load("/", "leaderboard-before-sort");
  browser_->Click(browser_->Find("#leaderboard thead a[href*='sort=name']"));
  Load("", "leaderboard-sorted-by-name");
  want = groups;
  std::sort(want.begin(), want.end(), [](const Group& a, const Group& b) {
    return std::tie(a.gpu, a.backend) < std::tie(b.gpu, b.backend);
  });
  ExpectRows(want, "sorted by name");

  // Pages of two rows: next, next, previous.
  Load("/?size=2", "leaderboard-page-1");
  EXPECT_EQ(browser_->Text(browser_->Find("#page-info")), "Page 1 of 3 (6 GPUs)");
  ExpectRows({groups[0], groups[1]}, "page 1");
  EXPECT_TRUE(browser_->FindAll("#prev").empty());
  browser_->Click(browser_->Find("#next"));
  Load("", "leaderboard-page-2");
  ExpectRows({groups[2], groups[3]}, "page 2");
  browser_->Click(browser_->Find("#next"));
  Load("", "leaderboard-page-3");
  ExpectRows({groups[4], groups[5]}, "page 3");
  EXPECT_TRUE(browser_->FindAll("#next").empty());
  browser_->Click(browser_->Find("#prev"));
  Load("", "leaderboard-page-2-again");
  ExpectRows({groups[2], groups[3]}, "page 2 again");

  // A bad parameter is an error page saying what was wrong.
  browser_->Navigate(Url("/?page=zero"));
  EXPECT_NE(browser_->Text(browser_->Find("#error")).find("page must be"), std::string::npos);
  browser_->ConsoleLog();  // the 400 itself is logged as a failed load
}

TEST_F(BrowserTest, GpuPageShowsTheGroupItsSpeedsAndRecentResults) {
  const std::vector<Group> groups = GroupsFromDatabase();
  const Group* g4090 = nullptr;
  for (const Group& g : groups) {
    if (g.gpu == "NVIDIA GeForce RTX 4090") g4090 = &g;
  }
  ASSERT_NE(g4090, nullptr);
  Load("/?name=4090", "leaderboard-4090");
  browser_->Click(browser_->Find("#leaderboard td.gpu a"));
  Load("", "gpu-4090");
  EXPECT_EQ(browser_->Text(browser_->Find("#gpu-name")), g4090->gpu);
  EXPECT_NEAR(Number(browser_->Text(browser_->Find("#median"))), g4090->median, 0.051);
  EXPECT_EQ(Number(browser_->Text(browser_->Find("#results"))), g4090->scores.size());
  EXPECT_NE(browser_->Text(browser_->Find("#spec")).find("1008 GB/s"), std::string::npos);
  // The histogram holds every ranked result.
  int64_t binned = 0;
  for (const std::string& bin : browser_->FindAll("svg.histogram rect.bin")) {
    binned += static_cast<int64_t>(Number(browser_->Attribute(bin, "data-count")));
  }
  EXPECT_EQ(binned, static_cast<int64_t>(g4090->scores.size()));
  // Decode per format: the median of the cases in the file.
  for (const char* format : {"f16", "q8_0", "q4_k", "q2_k"}) {
    SCOPED_TRACE(format);
    const double want =
        CaseMedianFromDatabase(g4090->gpu, "cuda", absl::StrCat("chat/", format), "tg128");
    EXPECT_NEAR(Number(browser_->Text(browser_->Find(
                    absl::StrCat("#speed tr[data-format='", format, "'] td.decode-measured")))),
                want, 0.051);
  }
  EXPECT_FALSE(browser_->FindAll("#fit td[data-fits='1']").empty());
  EXPECT_FALSE(browser_->FindAll("#fit td[data-fits='0']").empty());  // 70B in F16 does not fit
  EXPECT_EQ(browser_->FindAll("#recent tbody tr").size(), g4090->scores.size());

  browser_->Navigate(Url("/gpu/No%20Such%20GPU"));
  EXPECT_NE(browser_->Text(browser_->Find("#error")).find("no results"), std::string::npos);
  browser_->ConsoleLog();  // the 404 itself is logged as a failed load
}

TEST_F(BrowserTest, ResultPageShowsEveryCaseWithSamples) {
  const std::vector<Group> groups = GroupsFromDatabase();
  Load("/", "leaderboard-for-result");
  browser_->Click(browser_->Find("#leaderboard td.best a"));
  Load("", "result");
  EXPECT_EQ(browser_->Text(browser_->Find("#result-id")), groups[0].best_id);
  EXPECT_NEAR(Number(browser_->Text(browser_->Find("#score"))), groups[0].best, 0.051);
  EXPECT_EQ(browser_->Text(browser_->Find("#ranked")), "yes");
  absl::StatusOr<LoadedSuite> v1 = LoadSuite("v1");
  ASSERT_TRUE(v1.ok());
  int cases = 0;
  cases = v1->spec.workloads_size() * v1->spec.formats_size();
  EXPECT_EQ(browser_->FindAll("#cases tr.case").size(), static_cast<size_t>(cases));
  EXPECT_FALSE(browser_->Text(browser_->Find("#cases td.samples")).empty());
  EXPECT_FALSE(browser_->Text(browser_->Find("#fingerprint")).empty());
  EXPECT_NE(browser_->Text(browser_->Find("#cases")).find("passed"), std::string::npos)
      << "self-check column";
}

TEST_F(BrowserTest, PredictionFormAnswers) {
  Load("/predict", "predict-form");
  browser_->Type(browser_->Find("input[name=gpu]"), "NVIDIA GeForce RTX 4090");
  browser_->Click(browser_->Find("select[name=model] option[value='llama-3.1-8b']"));
  browser_->Click(browser_->Find("select[name=format] option[value=q4_k]"));
  const std::string context = browser_->Find("input[name=context]");
  browser_->Clear(context);
  browser_->Type(context, "8192");
  browser_->Click(browser_->Find("#predict"));
  Load("", "predict-answer");
  v1::PredictRequest ask;
  ask.mutable_gpu()->set_name("NVIDIA GeForce RTX 4090");
  ask.mutable_model()->set_preset("llama-3.1-8b");
  ask.set_format("q4_k");
  ask.set_context_tokens(8192);
  v1::PredictResponse want;
  ASSERT_TRUE(site->stub->Predict(Deadline().get(), ask, &want).ok());
  EXPECT_EQ(browser_->Text(browser_->Find("#decode")),
            absl::StrFormat("%.1f", want.decode_tokens_per_second().value()));
  EXPECT_TRUE(absl::StartsWith(browser_->Text(browser_->Find("#fits")), "Fits"));
  EXPECT_NE(browser_->Text(browser_->Find("#basis")).find(want.basis()), std::string::npos);
  // With a measured error, the answer carries its error bar.
  if (want.decode_tokens_per_second().error_measured()) {
    EXPECT_FALSE(browser_->FindAll("#prediction svg.range").empty());
  }
}

TEST_F(BrowserTest, MarkupFromASubmissionRendersAsText) {
  Load("/?name=evil", "markup-leaderboard");
  const std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(rows[0].gpu, kEvilGpu)) << rows[0].gpu;
  EXPECT_TRUE(browser_->FindAll("#evil").empty());
  EXPECT_TRUE(browser_->FindAll("main script, main img").empty());

  browser_->Click(browser_->Find("#leaderboard td.gpu a"));
  Load("", "markup-gpu");
  EXPECT_EQ(browser_->Text(browser_->Find("#gpu-name")), rows[0].gpu);
  EXPECT_TRUE(browser_->FindAll("#evil").empty());

  Load("/result/" + site->evil_id, "markup-result");
  EXPECT_NE(browser_->Text(browser_->Find("#build")).find(kEvilBuild), std::string::npos);
  EXPECT_NE(browser_->Text(browser_->Find("#hardware")).find(kEvilGpu), std::string::npos);
  EXPECT_TRUE(browser_->FindAll("#evil, #evil-build, main script, main img").empty());
}

}  // namespace
}  // namespace aiscore
