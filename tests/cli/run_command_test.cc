// `aiscore run`, the real binary: the quick suite end to end on the CPU
// backend, its outputs (table, JSON, CSV, markdown, the signed file under the
// XDG data directory) agreeing figure for figure, a person's own GGUF, and
// bad input refused with a clear message before any work.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/bench/report.h"
#include "agent/sign/envelope.h"
#include "agent/sign/envelope_file.h"
#include "tests/read_file_bytes.h"
#include "tests/shell_command.h"
#include "tests/temp_dir.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// RFC 4180 records: fields split on commas, quotes honored.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\n') {
      rows.emplace_back(1);
    } else {
      rows.back().back() += c;
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

class RunCommandTest : public ::testing::Test {
 protected:
  // Runs `aiscore args` with this test's XDG directories; the output holds
  // stdout and stderr together.
  CommandResult Run(const std::string& args) {
    return RunShellCommand("XDG_CONFIG_HOME=" + dir_.Path("config") + " XDG_DATA_HOME=" +
                           dir_.Path("data") + " " + AISCORE_BINARY + " " + args + " 2>&1");
  }
  std::string Path(const std::string& name) const { return dir_.Path(name); }
  std::vector<fs::path> SavedRuns(const std::string& extension) const {
    std::vector<fs::path> out;
    const fs::path runs = dir_.path() / "data" / "aiscore" / "runs";
    if (!fs::exists(runs)) return out;
    for (const auto& e : fs::directory_iterator(runs)) {
      if (e.path().extension() == extension) out.push_back(e.path());
    }
    return out;
  }

  TempDir dir_;
};

TEST_F(RunCommandTest, QuickSuiteEndToEndWithEveryOutputAgreeing) {
  CommandResult r = Run("run --suite quick --json " + Path("r.json") + " --csv " + Path("r.csv") +
                        " --md " + Path("r.md"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* s :
       {"| model", "pp64", "ttft", "tg16", "pp512", "tg8@d512", "spec-tg16", "Speculative decoding",
        "| spec/q4_k |", "AI System Score", "not rankable", "estimated", "saved"}) {
    EXPECT_THAT(r.output, HasSubstr(s));
  }
  // Piped stderr gets plain progress lines, no terminal control codes.
  EXPECT_THAT(r.output, HasSubstr("[1/12]"));
  EXPECT_EQ(r.output.find('\r'), std::string::npos);

  // The signed file under the XDG data directory verifies and holds the JSON's result.
  const std::vector<fs::path> signed_files = SavedRuns(".signed");
  ASSERT_EQ(signed_files.size(), 1u);
  absl::StatusOr<v1::SignedResult> envelope = ReadEnvelopeFile(signed_files[0]);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  absl::StatusOr<v1::RunResult> signed_run = VerifyEnvelope(*envelope);
  ASSERT_TRUE(signed_run.ok()) << signed_run.status();
  absl::StatusOr<v1::RunResult> json_run = ParseJson(ReadFileBytes(Path("r.json")));
  ASSERT_TRUE(json_run.ok()) << json_run.status();
  EXPECT_EQ(json_run->SerializeAsString(), signed_run->SerializeAsString());
  EXPECT_EQ(SavedRuns(".json").size(), 1u);
  struct stat key_stat {};
  ASSERT_EQ(stat((dir_.path() / "config" / "aiscore" / "key").c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600);

  // Every case of the suite, in order, measured.
  const v1::RunResult& run = *json_run;
  EXPECT_EQ(run.suite().name(), "quick");
  ASSERT_EQ(run.cases_size(), 12);
  int measured = 0;
  for (const v1::CaseResult& c : run.cases()) {
    EXPECT_EQ(c.status(), v1::CASE_STATUS_OK) << c.name() << ": " << c.reason();
    measured += c.measurements_size();
  }
  EXPECT_EQ(measured, 4 * (3 + 2 + 10));  // chat, long, spec
  EXPECT_GT(run.local_score(), 0);

  // CSV: the same figures, bit for bit.
  const auto rows = ParseCsv(ReadFileBytes(Path("r.csv")));
  ASSERT_GE(rows.size(), 2u);
  const std::vector<std::string> header = rows[0];
  EXPECT_EQ(header, CsvColumns());
  auto col = [&](const std::string& name) {
    return std::find(header.begin(), header.end(), name) - header.begin();
  };
  int csv_measurements = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    ASSERT_EQ(row.size(), header.size());
    const v1::CaseResult* c = nullptr;
    for (const v1::CaseResult& x : run.cases()) {
      if (x.name() == row[col("case")]) c = &x;
    }
    ASSERT_NE(c, nullptr) << row[col("case")];
    EXPECT_EQ(row[col("status")], v1::CaseStatus_Name(c->status()));
    if (row[col("test")].empty()) continue;
    const v1::Measurement* m = nullptr;
    for (const v1::Measurement& x : c->measurements()) {
      if (x.name() == row[col("test")]) m = &x;
    }
    ASSERT_NE(m, nullptr);
    ++csv_measurements;
    EXPECT_EQ(std::strtod(row[col("median")].c_str(), nullptr), m->median());
    EXPECT_EQ(std::strtod(row[col("min")].c_str(), nullptr), m->min());
    EXPECT_EQ(std::strtod(row[col("max")].c_str(), nullptr), m->max());
    EXPECT_EQ(std::strtod(row[col("stddev")].c_str(), nullptr), m->stddev());
    std::stringstream samples(row[col("samples")]);
    std::string sample;
    int k = 0;
    while (std::getline(samples, sample, ';')) {
      ASSERT_LT(k, m->samples_size());
      EXPECT_EQ(std::strtod(sample.c_str(), nullptr), m->samples(k++));
    }
    EXPECT_EQ(k, m->samples_size());
  }
  EXPECT_EQ(csv_measurements, measured);
  EXPECT_EQ(ReadFileBytes(Path("r.md")), FormatTable(run));
}

TEST_F(RunCommandTest, OwnGgufRunsTheGenerateWorkloadsAsACustomModel) {
  CommandResult r = Run("export-gguf --model tiny --format q8_0 " + Path("mine.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Run("run --suite quick --model " + Path("mine.gguf") + " --json " + Path("r.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("a custom model is not ranked"));
  absl::StatusOr<v1::RunResult> run = ParseJson(ReadFileBytes(Path("r.json")));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->model().custom());
  EXPECT_EQ(run->model().file_name(), "mine.gguf");
  EXPECT_EQ(run->model().file_sha256().size(), 64u);
  EXPECT_EQ(run->model().file_format(), "q8_0");
  EXPECT_EQ(run->model().shape().d_model(), 256);
  ASSERT_EQ(run->cases_size(), 3);
  EXPECT_EQ(run->cases(0).name(), "chat/q8_0");
  EXPECT_EQ(run->cases(0).model(), "mine.gguf");
  EXPECT_EQ(run->cases(0).status(), v1::CASE_STATUS_OK) << run->cases(0).reason();
  EXPECT_EQ(run->cases(1).name(), "long/q8_0");
  EXPECT_EQ(run->cases(1).status(), v1::CASE_STATUS_OK) << run->cases(1).reason();
  EXPECT_EQ(run->cases(2).name(), "spec/q8_0");
  EXPECT_EQ(run->cases(2).status(), v1::CASE_STATUS_NOT_RUN);
}

TEST_F(RunCommandTest, BadInputIsRefusedBeforeAnyWork) {
  CommandResult r = Run("run --suite v9");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("unknown suite 'v9'"));
  r = Run("run --suite quick --format q5_k");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("unknown format 'q5_k'"));
  r = Run("run --suite quick --workload chatty");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("unknown workload 'chatty'"));
  r = Run("run --suite quick --model " + Path("missing.gguf"));
  EXPECT_EQ(r.exit_code, 2);
  r = Run("run --suite quick --backend tpu");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("tpu"));
  // A garbage suite file names the file and the line.
  std::ofstream(Path("bad.textproto")) << "name: \"x\"\nworkloads { bogus: 1 }\n";
  r = Run("run --suite " + Path("bad.textproto"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("bad.textproto:2"));
  // A damaged key file stops the run before it starts; nothing is overwritten.
  fs::create_directories(dir_.path() / "config" / "aiscore");
  const fs::path key = dir_.path() / "config" / "aiscore" / "key";
  std::ofstream(key) << "not a key";
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  r = Run("run --suite quick");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr(key.string()));
  EXPECT_EQ(ReadFileBytes(key), "not a key");
  EXPECT_TRUE(SavedRuns(".signed").empty());
  // Not a GGUF at all.
  std::ofstream(Path("junk.gguf")) << "this is not a gguf file";
  fs::remove(key);
  r = Run("run --suite quick --model " + Path("junk.gguf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("junk.gguf"));
}

}  // namespace
}  // namespace aiscore
