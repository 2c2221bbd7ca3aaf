// Runs the real `aiscore` binary: export a synthetic model to GGUF, evaluate
// the file and the synthetic model and compare logits bit for bit, and check
// that bad input gets a clear message and a meaningful exit code.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/read_file_bytes.h"
#include "tests/shell_command.h"
#include "tests/temp_dir.h"

namespace aiscore {
namespace {

// Runs `aiscore args`; the output holds stdout and stderr together.
CommandResult RunAiscore(const std::string& args) {
  return RunShellCommand(std::string(AISCORE_BINARY) + " " + args + " 2>&1");
}

class CliTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_.Path(name); }
  TempDir dir_;
};

TEST_F(CliTest, ExportedGgufEvaluatesToTheSameLogitsAsTheSyntheticModel) {
  for (const char* format : {"f16", "q8_0", "q4_k", "q2_k", "q6_k", "q3_k"}) {
    const std::string gguf = Path(std::string("tiny-") + format + ".gguf");
    CommandResult r =
        RunAiscore(std::string("export-gguf --model tiny --format ") + format + " " + gguf);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = RunAiscore("eval --model " + gguf + " --tokens 1,2,3,500 --logits " + Path("a.f32"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("greedy:"), std::string::npos);
    r = RunAiscore(std::string("eval --model tiny --format ") + format +
                   " --tokens 1,2,3,500 --logits " + Path("b.f32"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string a = ReadFileBytes(Path("a.f32")), b = ReadFileBytes(Path("b.f32"));
    EXPECT_EQ(a.size(), 4u * 512 * sizeof(float)) << format;
    EXPECT_TRUE(a == b) << format;
  }
}

TEST_F(CliTest, BadInputGetsAClearMessageAndExitCode) {
  CommandResult r = RunAiscore("eval --model " + Path("missing.gguf") + " --tokens 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("missing.gguf"), std::string::npos) << r.output;

  // A truncated file: every prefix length must fail cleanly.
  const std::string gguf = Path("tiny.gguf");
  ASSERT_EQ(RunAiscore("export-gguf --model tiny --format q8_0 " + gguf).exit_code, 0);
  const std::string bytes = ReadFileBytes(gguf);
  for (size_t keep : {size_t{0}, size_t{3}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(Path("cut.gguf"), std::ios::binary).write(bytes.data(), keep);
    r = RunAiscore("eval --model " + Path("cut.gguf") + " --tokens 1");
    EXPECT_EQ(r.exit_code, 1) << keep << ": " << r.output;
    EXPECT_NE(r.output.find("aiscore: "), std::string::npos) << r.output;
  }

  r = RunAiscore("eval --model tiny --format q5_k --tokens 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("q5_k"), std::string::npos) << r.output;
  r = RunAiscore("eval --model tiny --tokens 1,,2");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = RunAiscore("eval --model tiny --tokens 1,512");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("outside the vocabulary"), std::string::npos) << r.output;
  r = RunAiscore("eval --tokens 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = RunAiscore("export-gguf --model nine-b --format q4_k " + Path("x.gguf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("target-7b"), std::string::npos) << r.output;
  r = RunAiscore("export-gguf --model tiny --format q4_k " + Path("no/such/dir/x.gguf"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  r = RunAiscore("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(CliTest, EverySubcommandHasHelp) {
  for (const char* cmd : {"", "eval ", "export-gguf ", "bench "}) {
    CommandResult r = RunAiscore(std::string(cmd) + "--help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << cmd << r.output;
  }
}

TEST_F(CliTest, BenchPrintsATable) {
  CommandResult r = RunAiscore("bench --model tiny --format q4_k,f16 -p 16 -n 4 -r 2 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("| pp16"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| tg4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("q4_k"), std::string::npos) << r.output;
  // Decode's share of the memory probe, which runs after the warm-up, during
  // each of the 2 repetitions (not here: they are shorter than the probe's
  // interval) and after it: two groups of readings, each repetition's
  // starting with the one before it.
  EXPECT_NE(r.output.find("% of "), std::string::npos) << r.output;
  const std::string probes = "probe GB/s through each repetition:";
  const size_t at = r.output.find(probes);
  ASSERT_NE(at, std::string::npos) << r.output;
  const size_t from = at + probes.size();
  std::string line = r.output.substr(from, r.output.find('\n', from) - from);
  std::vector<std::vector<double>> groups;
  for (size_t open = line.find('('); open != std::string::npos; open = line.find('(', open + 1)) {
    std::istringstream group(line.substr(open + 1, line.find(')', open) - open - 1));
    groups.emplace_back();
    for (double v; group >> v;) groups.back().push_back(v);
  }
  ASSERT_EQ(groups.size(), 2u) << r.output;
  for (const std::vector<double>& g : groups) {
    ASSERT_EQ(g.size(), 2u) << r.output;
    for (double v : g) EXPECT_GT(v, 0.1) << r.output;
  }
  EXPECT_EQ(groups[1].front(), groups[0].back()) << r.output;
  // And each repetition's share, two per format, of the weights alone and
  // with the KV cache's reads (the line after), which can only add to each.
  const std::string each = "share of the probe, each repetition:";
  const std::string with_kv = "counting the KV cache's reads too (";
  // The percentages after `label` on the line at `at`.
  auto shares_at = [&](size_t at, const std::string& label) {
    const size_t begin = r.output.find(':', at + label.size()) + 1;
    std::istringstream line(r.output.substr(begin, r.output.find('\n', begin) - begin));
    std::vector<double> values;
    for (std::string word; line >> word;) {
      EXPECT_EQ(word.back(), '%') << r.output;
      values.push_back(std::stod(word));
    }
    return values;
  };
  for (size_t at_each = r.output.find(each), formats = 0; formats < 2;
       at_each = r.output.find(each, at_each + 1), ++formats) {
    ASSERT_NE(at_each, std::string::npos) << r.output;
    const std::vector<double> weights = shares_at(at_each, each);
    ASSERT_EQ(weights.size(), 2u) << r.output;
    for (double v : weights) EXPECT_GT(v, 0.0) << r.output;
    const size_t at_kv = r.output.find(with_kv, at_each);
    ASSERT_EQ(at_kv, r.output.find('\n', at_each) + 1) << r.output;
    EXPECT_GT(std::stod(r.output.substr(at_kv + with_kv.size())), 0.0) << r.output;  // MB a token
    const std::vector<double> all = shares_at(at_kv, with_kv);
    ASSERT_EQ(all.size(), 2u) << r.output;
    for (size_t i = 0; i < all.size(); ++i) EXPECT_GE(all[i], weights[i]) << r.output;
  }
}

}  // namespace
}  // namespace aiscore
