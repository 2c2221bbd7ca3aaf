// write_fuzz_seeds OUT_DIR: writes the seed corpora of the fuzz targets, one
// directory per target, as tests/fuzz/corpus holds them:
//   gguf_reader/        small GGUF models written by WriteGgufModel (F32,
//                       F16, Q8_0, tied embeddings, version 2) and a file with
//                       every metadata value type and nested arrays; named
//                       without ".gguf", which .gitignore ignores
//   envelope_verify/    SignedResults (signed with the fuzz key) that the
//                       collector accepts, or rejects for one reason each
//   run_result_verify/  the RunResult payloads of those envelopes
// suite_loader's seeds are text, written by hand (scripts/fuzz.sh adds the
// built-in suites, suites/*.textproto). The output is deterministic (fixed
// seeds, nonces and key), so rerunning it rewrites the committed corpus byte
// for byte. docs/reliability.md says how the corpus is used.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "agent/engine/gguf_file.h"
#include "agent/engine/gguf_model.h"
#include "agent/engine/model_config.h"
#include "agent/engine/model_weights.h"
#include "agent/engine/synthetic_weights.h"
#include "agent/sign/envelope.h"
#include "aiscore/v1/result.pb.h"
#include "suites/suite_loader.h"
#include "tests/collector/quick_result.h"
#include "tests/fuzz/fuzz_verifier.h"
#include "tests/fuzz/quiet_protobuf.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "write_fuzz_seeds: %s\n", what.c_str());
  std::exit(1);
}

void Check(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

void WriteFile(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) Die("cannot write " + path.string());
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---------------------------------------------------------------------------
// GGUF

// The smallest llama shape ModelConfig accepts with grouped-query attention:
// about 2 KB of F32 weights.
ModelConfig Nano() {
  ModelConfig c;
  c.name = "nano";
  c.vocab_size = 8;
  c.d_model = 8;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.d_ff = 8;
  c.max_context = 64;
  return c;
}

// Rows of 32, for Q8_0 (one block per row): about 12 KB.
ModelConfig Micro() {
  ModelConfig c = Nano();
  c.name = "micro";
  c.vocab_size = 32;
  c.d_model = 32;
  c.d_ff = 64;
  return c;
}

ModelWeights Synthesize(const ModelConfig& config, Format format) {
  absl::StatusOr<ModelWeights> w = SynthesizeWeights(config, format, kDefaultSyntheticSeed, 1);
  Check(w.status(), "synthesize " + config.name);
  return *std::move(w);
}

// Writes `w` and checks that it loads back: a seed the loader refuses would
// leave the model loader's paths uncovered.
void WriteModel(const ModelWeights& w, const fs::path& path) {
  Check(WriteGgufModel(w, path.string()), "write " + path.string());
  Check(LoadGgufModel(path.string()).status(), "load " + path.string());
}

// GGUF encoding of the metadata-only seed.
template <typename T>
std::string Enc(T v) {
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &v, sizeof(T));
  return s;
}
std::string EncStr(std::string_view s) { return Enc<uint64_t>(s.size()) + std::string(s); }
std::string Kv(std::string_view key, uint32_t type, const std::string& value) {
  return EncStr(key) + Enc<uint32_t>(type) + value;
}

// A file with a key of every value type, arrays of fixed-size values, of
// strings and of arrays, an alignment of 64 and two tensors (F32 and Q8_0).
std::string MetadataTypesFile() {
  std::string kvs;
  int n = 0;
  auto add = [&](std::string_view key, GgufType type, const std::string& value) {
    kvs += Kv(key, static_cast<uint32_t>(type), value);
    ++n;
  };
  add("general.architecture", GgufType::kString, EncStr("llama"));
  add("general.alignment", GgufType::kUint32, Enc<uint32_t>(64));
  add("u8", GgufType::kUint8, Enc<uint8_t>(200));
  add("i8", GgufType::kInt8, Enc<int8_t>(-100));
  add("u16", GgufType::kUint16, Enc<uint16_t>(60000));
  add("i16", GgufType::kInt16, Enc<int16_t>(-30000));
  add("u32", GgufType::kUint32, Enc<uint32_t>(4000000000u));
  add("i32", GgufType::kInt32, Enc<int32_t>(-2000000000));
  add("f32", GgufType::kFloat32, Enc<float>(1.5f));
  add("bool", GgufType::kBool, Enc<uint8_t>(1));
  add("u64", GgufType::kUint64, Enc<uint64_t>(~uint64_t{0}));
  add("i64", GgufType::kInt64, Enc<int64_t>(-5));
  add("f64", GgufType::kFloat64, Enc<double>(2.25));
  add("arr_u16", GgufType::kArray,
      Enc<uint32_t>(2) + Enc<uint64_t>(3) + Enc<uint16_t>(1) + Enc<uint16_t>(2) +
          Enc<uint16_t>(65535));
  add("arr_str", GgufType::kArray,
      Enc<uint32_t>(8) + Enc<uint64_t>(3) + EncStr("a") + EncStr("") + EncStr("ccc"));
  add("arr_arr", GgufType::kArray,
      Enc<uint32_t>(9) + Enc<uint64_t>(2) + Enc<uint32_t>(5) + Enc<uint64_t>(2) + Enc<int32_t>(7) +
          Enc<int32_t>(8) + Enc<uint32_t>(5) + Enc<uint64_t>(0));
  add("llama.feed_forward_length", GgufType::kArray,
      Enc<uint32_t>(4) + Enc<uint64_t>(2) + Enc<uint32_t>(8) + Enc<uint32_t>(8));
  std::string tensors;
  tensors += EncStr("output_norm.weight") + Enc<uint32_t>(1) + Enc<int64_t>(4) + Enc<uint32_t>(0) +
             Enc<uint64_t>(0);  // F32 [4] at 0
  tensors += EncStr("token_embd.weight") + Enc<uint32_t>(2) + Enc<int64_t>(32) + Enc<int64_t>(1) +
             Enc<uint32_t>(8) + Enc<uint64_t>(64);  // Q8_0 [32, 1] at 64
  std::string file = Enc<uint32_t>(kGgufMagic) + Enc<uint32_t>(kGgufVersion) + Enc<uint64_t>(2) +
                     Enc<uint64_t>(n) + kvs + tensors;
  file.resize((file.size() + 63) / 64 * 64, '\0');
  for (int i = 0; i < 4; ++i) file += Enc<float>(1.0f);
  file.resize(file.size() + 48, '\0');
  file += std::string(34, '\x11');  // one Q8_0 block
  return file;
}

void WriteGgufSeeds(const fs::path& dir) {
  const ModelWeights nano_f32 = Synthesize(Nano(), Format::kF32);
  WriteModel(nano_f32, dir / "nano_f32");
  WriteModel(Synthesize(Nano(), Format::kF16), dir / "nano_f16");
  WriteModel(Synthesize(Micro(), Format::kQ8_0), dir / "micro_q8_0");
  ModelWeights tied = nano_f32;
  tied.output = tied.token_embd;
  WriteModel(tied, dir / "nano_f32_tied");
  std::string v2 = ReadFile(dir / "nano_f32");
  const uint32_t version = 2;
  std::memcpy(v2.data() + 4, &version, sizeof(version));
  WriteFile(dir / "nano_f32_v2", v2);
  Check(LoadGgufModel((dir / "nano_f32_v2").string()).status(), "load nano_f32_v2");
  WriteFile(dir / "metadata_types", MetadataTypesFile());
  Check(GgufFile::Open((dir / "metadata_types").string()).status(), "open metadata_types");
}

// ---------------------------------------------------------------------------
// Envelopes and RunResults

LoadedSuite Suite(std::string_view name) {
  absl::StatusOr<LoadedSuite> s = LoadSuite(name);
  Check(s.status(), "load suite " + std::string(name));
  return *std::move(s);
}

// Gives every not-run case of `r` (the speculative ones) measurements at the
// suite's reference values, as QuickResult does for the others (0.5, valid
// in every unit, for a metric without references).
void MeasureEveryCase(const LoadedSuite& suite, v1::RunResult& r) {
  for (v1::CaseResult& c : *r.mutable_cases()) {
    if (c.status() == v1::CASE_STATUS_OK) continue;
    const v1::Workload* workload = nullptr;
    for (const v1::Workload& w : suite.spec.workloads()) {
      if (w.name() == c.workload()) workload = &w;
    }
    if (workload == nullptr) Die("no workload " + c.workload());
    c.set_status(v1::CASE_STATUS_OK);
    c.clear_reason();
    c.mutable_self_check()->set_status(v1::SELF_CHECK_STATUS_PASSED);
    c.set_timed_runs(1);
    for (const v1::MetricSpec& spec : workload->metrics()) {
      double ref = 0.5;
      for (const v1::Reference& x : spec.references()) {
        if (x.format() == c.format()) ref = x.value();
      }
      v1::Measurement* m = c.add_measurements();
      m->set_name(spec.name());
      m->set_kind(spec.kind());
      m->set_unit(UnitOf(spec.kind()));
      m->set_median(ref);
      m->set_min(ref);
      m->set_max(ref);
      m->add_samples(ref);
    }
  }
}

void OnGpu(v1::RunResult& r, std::string_view gpu, int64_t memory_bytes) {
  r.mutable_backend()->set_name("cuda");
  r.mutable_backend()->set_device_name(std::string(gpu));
  v1::GpuInfo* g = r.mutable_hardware()->add_gpus();
  g->set_name(std::string(gpu));
  g->set_memory_bytes(memory_bytes);
}

// A custom model's result: the quick suite's workloads in one format.
v1::RunResult CustomModelResult(const LoadedSuite& quick) {
  v1::RunResult r = QuickResult(quick);
  v1::RunResult kept = r;
  kept.clear_cases();
  for (const v1::CaseResult& c : r.cases()) {
    if (c.format() == "q8_0") *kept.add_cases() = c;
  }
  v1::ModelSource* model = kept.mutable_model();
  model->set_custom(true);
  model->set_file_name("micro.gguf");
  model->set_file_sha256(std::string(64, '0'));
  model->set_file_format("q8_0");
  ModelConfig micro = Micro();
  *model->mutable_shape() = ToModelShape(micro);
  return kept;
}

struct NamedResult {
  std::string name;
  v1::RunResult result;
  bool accepted;  // what the collector's verifier must say
};

std::vector<NamedResult> Results() {
  const LoadedSuite quick = Suite("quick");
  const LoadedSuite v1 = Suite("v1");
  std::vector<NamedResult> out;
  out.push_back({"quick_cpu", QuickResult(quick), true});
  v1::RunResult spec = QuickResult(quick);
  MeasureEveryCase(quick, spec);
  out.push_back({"quick_cpu_speculative", spec, true});
  v1::RunResult gpu = QuickResult(v1);
  OnGpu(gpu, "NVIDIA GeForce RTX 4090", int64_t{24} << 30);
  out.push_back({"v1_rtx4090", gpu, true});
  v1::RunResult fast = QuickResult(v1, kQuickResultNow, 50);
  OnGpu(fast, "NVIDIA GeForce RTX 4060", int64_t{8} << 30);
  out.push_back({"v1_rtx4060_implausible", fast, false});
  v1::RunResult unknown_gpu = QuickResult(v1);
  OnGpu(unknown_gpu, "Imaginary GPU 9000", int64_t{96} << 30);
  out.push_back({"v1_unknown_gpu", unknown_gpu, true});
  out.push_back({"quick_custom_model", CustomModelResult(quick), true});
  // Inputs of the bugs found while writing these targets, named after their
  // regression tests (tests/collector/verify/submission_verifier_test.cc).
  v1::RunResult wrapped = QuickResult(quick);
  const unsigned __int128 ms =
      static_cast<unsigned __int128>(absl::ToUnixMillis(kQuickResultNow) - 60616) +
      (static_cast<unsigned __int128>(1) << 64);
  wrapped.mutable_finished_at()->set_seconds(static_cast<int64_t>(ms / 1000));
  out.push_back({"regression_timestamp_milliseconds_overflow", wrapped, false});
  v1::RunResult denormal = QuickResult(quick);
  for (v1::CaseResult& c : *denormal.mutable_cases()) {
    for (v1::Measurement& m : *c.mutable_measurements()) {
      if (m.unit() != v1::UNIT_SECONDS) continue;
      const double tiny = std::numeric_limits<double>::denorm_min();
      m.set_median(tiny);
      m.set_min(tiny);
      m.set_max(tiny);
      m.set_stddev(0);
      for (double& x : *m.mutable_samples()) x = tiny;
    }
  }
  out.push_back({"regression_infinite_score_from_denormal_time", denormal, false});
  v1::RunResult bogus = QuickResult(v1, kQuickResultNow, 7);
  OnGpu(bogus, "NVIDIA GeForce RTX 4090", int64_t{24} << 30);
  for (v1::CaseResult& c : *bogus.mutable_cases()) c.set_format("bogus");
  out.push_back({"regression_case_format_field_skipped_physics", bogus, false});
  return out;
}

void WriteResultSeeds(const fs::path& envelopes, const fs::path& payloads) {
  const SubmissionVerifier& verifier = FuzzVerifier();
  for (const NamedResult& r : Results()) {
    absl::StatusOr<v1::SignedResult> e = SignRunResult(r.result, FuzzKey());
    Check(e.status(), "sign " + r.name);
    const Verdict verdict = verifier.Verify(*e, FuzzNow());
    if (verdict.accepted != r.accepted) {
      Die(r.name + ": the verifier says " + (verdict.accepted ? "accepted" : verdict.message));
    }
    WriteFile(payloads / (r.name + ".pb"), e->payload());
    std::string bytes;
    if (!e->SerializeToString(&bytes)) Die("serialize " + r.name);
    WriteFile(envelopes / (r.name + ".pb"), bytes);
  }
}

}  // namespace
}  // namespace aiscore

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  aiscore::SilenceProtobufLogs();
  const fs::path out = argv[1];
  for (const char* target : {"gguf_reader", "envelope_verify", "run_result_verify"}) {
    fs::create_directories(out / target);
  }
  aiscore::WriteGgufSeeds(out / "gguf_reader");
  aiscore::WriteResultSeeds(out / "envelope_verify", out / "run_result_verify");
  std::printf("seed corpora written under %s\n", out.c_str());
  return 0;
}
