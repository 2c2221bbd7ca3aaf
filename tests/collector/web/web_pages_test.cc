// The collector's pages and JSON API in process: SeededSite (seeded_site.h),
// the real handlers behind httplib's request parsing, without sockets or a
// browser (web_site_test.cc drives those). Quick checks that every route
// answers for the seeded results, and the regression tests of the web pages.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/web/html.h"
#include "tests/collector/web/seeded_site.h"
#include "tests/temp_dir.h"

namespace aiscore {
namespace {

class WebPagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SeededSite>> site = SeededSite::Create(dir_.path());
    ASSERT_TRUE(site.ok()) << site.status();
    site_ = *std::move(site);
  }

  // The status of a whole response ("HTTP/1.1 200 OK\r\n...").
  static int StatusOf(const std::string& response) {
    return response.starts_with("HTTP/1.1 ") && response.size() >= 12
               ? std::stoi(response.substr(9, 3))
               : 0;
  }

  TempDir dir_;
  std::unique_ptr<SeededSite> site_;
};

TEST_F(WebPagesTest, EveryRouteAnswersForTheSeededResults) {
  for (const std::string target :
       {"/", "/?format=q4_k&sort=name", "/gpu/NVIDIA%20GeForce%20RTX%204090",
        "/gpu/NVIDIA%20H100%20SXM5%2080GB?backend=cuda", "/predict",
        "/predict?gpu=NVIDIA+GeForce+RTX+4090&model=llama-3.1-8b&format=q4_k&context=8192",
        "/api/v1", "/api/v1/leaderboard", "/api/v1/gpus",
        "/api/v1/predict?gpu=RTX%204090&model=llama-3.1-8b&format=q4_k", "/healthz", "/metrics"}) {
    EXPECT_EQ(StatusOf(site_->Get(target)), 200) << target;
  }
  for (int i = 0; i < kSeededResults; ++i) {
    EXPECT_EQ(StatusOf(site_->Get("/result/" + SeededId(i))), 200) << SeededId(i);
    EXPECT_EQ(StatusOf(site_->Get("/api/v1/results/" + SeededId(i))), 200) << SeededId(i);
  }
  // The GPU named in markup is listed as text.
  const std::string board = site_->Get("/");
  EXPECT_TRUE(absl::StrContains(board, collector::web::Escape(kSeededEvilGpu))) << board;
  EXPECT_FALSE(absl::StrContains(board, "<script>")) << board;
  EXPECT_EQ(StatusOf(site_->Get("/result/nothing")), 404);
  EXPECT_EQ(StatusOf(site_->Serve("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")), 405);
}

// The leaderboard's and the GPU page's ?suite= went to LoadSuite, which
// opens any path it is given: ?suite=/dev/zero read without end (the process
// ran out of memory), a FIFO held the worker forever, any other file was read
// and parsed. A page must take a built-in suite's name only, and never open a
// file: here a FIFO with no writer, on which an open for reading blocks.
TEST_F(WebPagesTest, RegressionSuiteParameterOpensFiles) {
  const std::string fifo = dir_.Path("suite.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string page : {"/?suite=", "/gpu/NVIDIA%20GeForce%20RTX%204090?suite="}) {
    const std::string target = page + fifo;
    std::future<std::string> answer =
        std::async(std::launch::async, [&] { return site_->Get(target); });
    if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << target << " opened the FIFO";
      // Let the blocked open() return, so that the handler (and the test) end.
      const int writer = open(fifo.c_str(), O_WRONLY);
      if (writer >= 0) close(writer);
    }
    const std::string response = answer.get();
    EXPECT_FALSE(absl::StrContains(response, "cannot open suite file")) << response;
    if (page.starts_with("/gpu/")) {
      EXPECT_EQ(StatusOf(response), 404) << response;
      EXPECT_TRUE(absl::StrContains(response, "unknown suite")) << response;
    } else {
      EXPECT_EQ(StatusOf(response), 200) << response;  // an empty board
    }
  }
}

}  // namespace
}  // namespace aiscore
