// The suite loader: the built-in suites load, match their files byte for
// byte, and every kind of invalid suite is refused with a message that names
// the wrong field.
#include "suites/suite_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "google/protobuf/text_format.h"

namespace aiscore {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SuiteLoaderTest, BuiltInSuitesAreTheFilesByteForByte) {
  for (const std::string& name : BuiltInSuiteNames()) {
    absl::StatusOr<LoadedSuite> suite = LoadSuite(name);
    ASSERT_TRUE(suite.ok()) << suite.status();
    const std::string file =
        ReadFile(std::filesystem::path(AISCORE_SUITES_DIR) / (name + ".textproto"));
    EXPECT_EQ(suite->sha256, Sha256Hex(file)) << name;
    EXPECT_EQ(suite->spec.name(), name);
    absl::StatusOr<LoadedSuite> from_file =
        LoadSuiteFile(std::filesystem::path(AISCORE_SUITES_DIR) / (name + ".textproto"));
    ASSERT_TRUE(from_file.ok()) << from_file.status();
    EXPECT_EQ(from_file->sha256, suite->sha256);
  }
}

TEST(SuiteLoaderTest, V1IsTheBasketOfTheDesign) {
  absl::StatusOr<LoadedSuite> suite = LoadSuite("v1");
  ASSERT_TRUE(suite.ok()) << suite.status();
  const v1::SuiteSpec& s = suite->spec;
  EXPECT_TRUE(s.rankable());
  EXPECT_THAT(s.formats(), ::testing::ElementsAre("f16", "q8_0", "q4_k", "q2_k"));
  const v1::ModelShape* target = FindModel(s, "target-7b");
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(ToModelConfig(*target).ParameterCount(), 7248023552);
  const v1::ModelShape* draft = FindModel(s, "draft-1b");
  ASSERT_NE(draft, nullptr);
  EXPECT_NEAR(ToModelConfig(*draft).ParameterCount() / 1e9, 1.107, 0.001);
  ASSERT_EQ(s.workloads_size(), 3);
  EXPECT_EQ(s.workloads(0).prompt_tokens(), 512);
  EXPECT_EQ(s.workloads(0).generate_tokens(), 128);
  EXPECT_EQ(s.workloads(1).prompt_tokens(), 8192);
  EXPECT_EQ(s.workloads(1).generate_tokens(), 64);
  EXPECT_EQ(s.workloads(2).kind(), v1::WORKLOAD_KIND_SPECULATIVE);
  EXPECT_EQ(s.workloads(2).draft_model(), "draft-1b");
  EXPECT_EQ(s.workloads(2).draft_tokens(), 4);
  EXPECT_DOUBLE_EQ(s.workloads(2).acceptance_rate(), 0.8);
  EXPECT_EQ(ToModelConfig(*target).KvBytesPerToken(), 128 * 1024);
}

TEST(SuiteLoaderTest, QuickIsNotRankableAndHasTheSameFormatsAndWorkloads) {
  absl::StatusOr<LoadedSuite> quick = LoadSuite("quick");
  absl::StatusOr<LoadedSuite> v1 = LoadSuite("v1");
  ASSERT_TRUE(quick.ok() && v1.ok());
  EXPECT_FALSE(quick->spec.rankable());
  EXPECT_THAT(quick->spec.formats(), ::testing::ElementsAreArray(v1->spec.formats()));
  ASSERT_EQ(quick->spec.workloads_size(), v1->spec.workloads_size());
  for (int i = 0; i < v1->spec.workloads_size(); ++i) {
    EXPECT_EQ(quick->spec.workloads(i).name(), v1->spec.workloads(i).name());
    EXPECT_EQ(quick->spec.workloads(i).kind(), v1->spec.workloads(i).kind());
  }
}

TEST(SuiteLoaderTest, UnknownSuiteNamesTheBuiltIns) {
  absl::StatusOr<LoadedSuite> s = LoadSuite("v9");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("unknown suite 'v9'"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("v1, quick"));
  s = LoadSuite("/nonexistent/dir/suite.textproto");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("cannot open suite file"));
}

// The collector's pages load suites named in a query string: only built-in
// names load, and no name is taken as a path (WebPagesTest's
// RegressionSuiteParameterOpensFiles).
TEST(SuiteLoaderTest, LoadBuiltInSuiteNeverOpensAFile) {
  for (const std::string& name : BuiltInSuiteNames()) {
    absl::StatusOr<LoadedSuite> built_in = LoadBuiltInSuite(name);
    absl::StatusOr<LoadedSuite> loaded = LoadSuite(name);
    ASSERT_TRUE(built_in.ok() && loaded.ok()) << name;
    EXPECT_EQ(built_in->sha256, loaded->sha256);
  }
  const std::string file = (std::filesystem::path(AISCORE_SUITES_DIR) / "quick.textproto").string();
  ASSERT_TRUE(LoadSuite(file).ok());
  for (const std::string& name : {file, std::string("/dev/zero"), std::string("v9")}) {
    absl::StatusOr<LoadedSuite> s = LoadBuiltInSuite(name);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound) << name;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("built-in suites are v1, quick"));
  }
}

TEST(SuiteLoaderTest, SyntaxErrorsGiveLineAndColumn) {
  absl::StatusOr<LoadedSuite> s = ParseSuite("name: \"x\"\nformats: [f16\n", "bad.textproto");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("bad.textproto:"));
  s = ParseSuite("name: \"x\"\nno_such_field: 3\n", "bad.textproto");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("bad.textproto:2:"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("no_such_field"));
  s = ParseSuite("", "empty.textproto");
  ASSERT_FALSE(s.ok());
  s = ParseSuite(std::string("\0\xff\x01garbage", 10), "binary.textproto");
  ASSERT_FALSE(s.ok());
}

// Each mutation of the quick suite must be refused with a message naming the field.
struct Mutation {
  const char* what;
  std::function<void(v1::SuiteSpec&)> apply;
  const char* message;
};

TEST(SuiteLoaderTest, EveryKindOfInvalidFieldIsNamed) {
  absl::StatusOr<LoadedSuite> quick = LoadSuite("quick");
  ASSERT_TRUE(quick.ok()) << quick.status();
  const std::vector<Mutation> mutations = {
      {"empty name", [](v1::SuiteSpec& s) { s.set_name(""); }, "name must be"},
      {"no formats", [](v1::SuiteSpec& s) { s.clear_formats(); }, "formats: at least one"},
      {"unknown format", [](v1::SuiteSpec& s) { s.set_formats(0, "q5_k"); }, "formats[0] 'q5_k'"},
      {"upper-case format", [](v1::SuiteSpec& s) { s.set_formats(0, "F16"); }, "formats[0] 'F16'"},
      {"f32 format", [](v1::SuiteSpec& s) { s.set_formats(0, "f32"); }, "formats[0] 'f32'"},
      {"duplicate format", [](v1::SuiteSpec& s) { s.set_formats(1, "f16"); }, "given twice"},
      {"no models", [](v1::SuiteSpec& s) { s.clear_models(); }, "models: at least one"},
      {"zero layers", [](v1::SuiteSpec& s) { s.mutable_models(0)->set_n_layers(0); },
       "models[0] 'quick-target': n_layers = 0"},
      {"negative vocab", [](v1::SuiteSpec& s) { s.mutable_models(0)->set_vocab_size(-5); },
       "vocab_size = -5"},
      {"heads not dividing", [](v1::SuiteSpec& s) { s.mutable_models(0)->set_n_kv_heads(3); },
       "models[0] 'quick-target'"},
      {"bad rope theta", [](v1::SuiteSpec& s) { s.mutable_models(0)->set_rope_theta(0); },
       "rope_theta"},
      {"nan eps", [](v1::SuiteSpec& s) { s.mutable_models(0)->set_norm_eps(NAN); }, "norm_eps"},
      {"duplicate model", [](v1::SuiteSpec& s) { *s.add_models() = s.models(0); },
       "name is used twice"},
      {"no workloads", [](v1::SuiteSpec& s) { s.clear_workloads(); }, "workloads: at least one"},
      {"unknown kind",
       [](v1::SuiteSpec& s) { s.mutable_workloads(0)->set_kind(v1::WORKLOAD_KIND_UNSPECIFIED); },
       "workloads[0] 'chat': kind"},
      {"unknown model", [](v1::SuiteSpec& s) { s.mutable_workloads(0)->set_model("gpt-5"); },
       "model 'gpt-5' is not in models"},
      {"zero prompt", [](v1::SuiteSpec& s) { s.mutable_workloads(0)->set_prompt_tokens(0); },
       "prompt_tokens = 0"},
      {"zero generate", [](v1::SuiteSpec& s) { s.mutable_workloads(0)->set_generate_tokens(0); },
       "generate_tokens = 0"},
      {"over context", [](v1::SuiteSpec& s) { s.mutable_workloads(1)->set_prompt_tokens(100000); },
       "exceeds model 'quick-target' max_context"},
      {"draft on generate", [](v1::SuiteSpec& s) { s.mutable_workloads(0)->set_draft_tokens(4); },
       "speculative workloads only"},
      {"unknown draft", [](v1::SuiteSpec& s) { s.mutable_workloads(2)->set_draft_model("nope"); },
       "draft_model 'nope'"},
      {"draft vocab", [](v1::SuiteSpec& s) { s.mutable_models(1)->set_vocab_size(4096); },
       "vocab_size"},
      {"zero drafts", [](v1::SuiteSpec& s) { s.mutable_workloads(2)->set_draft_tokens(0); },
       "draft_tokens = 0"},
      {"acceptance", [](v1::SuiteSpec& s) { s.mutable_workloads(2)->set_acceptance_rate(1.5); },
       "acceptance_rate = 1.5"},
      {"no metrics", [](v1::SuiteSpec& s) { s.mutable_workloads(0)->clear_metrics(); },
       "metrics: at least one"},
      {"metric kind for workload",
       [](v1::SuiteSpec& s) {
         s.mutable_workloads(0)->mutable_metrics(0)->set_kind(v1::METRIC_KIND_EFFECTIVE_RATE);
       },
       "is not measured by a workload of kind"},
      {"duplicate metric name",
       [](v1::SuiteSpec& s) {
         s.mutable_workloads(0)->mutable_metrics(1)->set_name(s.workloads(0).metrics(0).name());
       },
       "name is used twice"},
      {"missing reference",
       [](v1::SuiteSpec& s) {
         s.mutable_workloads(0)->mutable_metrics(0)->mutable_references()->RemoveLast();
       },
       "no reference for format 'q2_k'"},
      {"negative reference",
       [](v1::SuiteSpec& s) {
         s.mutable_workloads(0)->mutable_metrics(0)->mutable_references(1)->set_value(-1);
       },
       "references[1] 'q8_0': value -1"},
      {"reference for other format",
       [](v1::SuiteSpec& s) {
         s.mutable_workloads(0)->mutable_metrics(0)->mutable_references(1)->set_format("q6_k");
       },
       "format 'q6_k' is not among the suite's formats"},
      {"references on unscored",
       [](v1::SuiteSpec& s) {
         auto* m = s.mutable_workloads(2)->mutable_metrics(1);
         m->add_references()->set_format("f16");
       },
       "without a sub_score"},
      {"no timing", [](v1::SuiteSpec& s) { s.clear_timing(); }, "timing is missing"},
      {"zero repetitions", [](v1::SuiteSpec& s) { s.mutable_timing()->set_repetitions(0); },
       "timing.repetitions = 0"},
      {"negative warmup", [](v1::SuiteSpec& s) { s.mutable_timing()->set_warmup_runs(-1); },
       "timing.warmup_runs = -1"},
      {"infinite cap", [](v1::SuiteSpec& s) { s.mutable_timing()->set_max_case_seconds(INFINITY); },
       "timing.max_case_seconds"},
      {"no reference device", [](v1::SuiteSpec& s) { s.clear_reference_device(); },
       "reference_device is missing"},
      {"zero bandwidth",
       [](v1::SuiteSpec& s) { s.mutable_reference_device()->set_memory_bandwidth(0); },
       "reference_device.memory_bandwidth = 0"},
      {"efficiency over 1",
       [](v1::SuiteSpec& s) { s.mutable_reference_device()->set_compute_efficiency(1.5); },
       "reference_device.compute_efficiency = 1.5"},
  };
  for (const Mutation& m : mutations) {
    v1::SuiteSpec s = quick->spec;
    m.apply(s);
    absl::Status status = ValidateSuite(s);
    EXPECT_FALSE(status.ok()) << m.what;
    EXPECT_THAT(std::string(status.message()), HasSubstr(m.message)) << m.what;
    EXPECT_THAT(std::string(status.message()), HasSubstr("suite '")) << m.what;
    // The same through the text path: the error names the file too.
    std::string text;
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(s, &text));
    absl::StatusOr<LoadedSuite> parsed = ParseSuite(text, "mutated.textproto");
    EXPECT_FALSE(parsed.ok()) << m.what;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("mutated.textproto")) << m.what;
  }
}

// prompt_tokens + generate_tokens (+ draft_tokens + 1) was summed before any
// count was bounded: counts near 2^63 overflowed int64 (undefined behaviour;
// UBSan reports it in suite_loader_fuzzer) and could wrap below max_context,
// so the suite was accepted.
TEST(SuiteLoaderTest, RegressionTokenCountSumOverflow) {
  absl::StatusOr<LoadedSuite> quick = LoadSuite("quick");
  ASSERT_TRUE(quick.ok()) << quick.status();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const std::vector<Mutation> mutations = {
      {"huge prompt", [](v1::SuiteSpec& s) { s.mutable_workloads(0)->set_prompt_tokens(kMax); },
       "prompt_tokens = 9223372036854775807: exceeds model 'quick-target' max_context"},
      {"huge generate",
       [](v1::SuiteSpec& s) { s.mutable_workloads(2)->set_generate_tokens(kMax - 64); },
       "generate_tokens = 9223372036854775743: exceeds model 'quick-target' max_context"},
      {"huge drafts", [](v1::SuiteSpec& s) { s.mutable_workloads(2)->set_draft_tokens(kMax); },
       "draft_tokens = 9223372036854775807: must be 1 to 16"},
  };
  for (const Mutation& m : mutations) {
    v1::SuiteSpec s = quick->spec;
    m.apply(s);
    const absl::Status status = ValidateSuite(s);
    EXPECT_FALSE(status.ok()) << m.what;
    EXPECT_THAT(std::string(status.message()), HasSubstr(m.message)) << m.what;
  }
}

TEST(SuiteLoaderTest, AnyEditChangesTheIdentity) {
  absl::StatusOr<LoadedSuite> a = ParseSuite(
      std::string(ReadFile(std::filesystem::path(AISCORE_SUITES_DIR) / "quick.textproto")), "a");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<LoadedSuite> b = ParseSuite(
      ReadFile(std::filesystem::path(AISCORE_SUITES_DIR) / "quick.textproto") + "\n# a comment\n",
      "b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(a->sha256, b->sha256);
  EXPECT_EQ(a->sha256.size(), 64u);
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace aiscore
