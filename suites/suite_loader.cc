#include "suites/suite_loader.h"

#include <sodium.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/quant/format.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "suites/builtin_suites.h"

namespace aiscore {
namespace {

// Collects TextFormat's parse errors as "origin:line:column: message".
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit ErrorCollector(std::string_view origin) : origin_(std::string(origin)) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!first_.empty()) return;
    first_ = absl::StrCat(origin_, ":", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string origin_;
  std::string first_;
};

// Builds errors that name the suite and the path of the offending field.
class Checker {
 public:
  explicit Checker(const v1::SuiteSpec& suite) : suite_name_(suite.name()) {}

  template <typename... Parts>
  absl::Status Error(const Parts&... parts) const {
    return absl::InvalidArgumentError(absl::StrCat("suite '", suite_name_, "': ", parts...));
  }

 private:
  std::string suite_name_;
};

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.' || c == '@';
    if (!ok) return false;
  }
  return true;
}

bool Positive(double x) { return std::isfinite(x) && x > 0; }

absl::Status ValidateModel(const Checker& check, int index, const v1::ModelShape& m) {
  const std::string where = absl::StrCat("models[", index, "] '", m.name(), "': ");
  if (!ValidName(m.name())) {
    return check.Error(where, "name must be 1 to 64 characters of a-z 0-9 - _ . @");
  }
  if (!std::isfinite(m.rope_theta()) || m.rope_theta() <= 1) {
    return check.Error(where, "rope_theta = ", m.rope_theta(), ": must be finite and > 1");
  }
  if (!Positive(m.norm_eps()) || m.norm_eps() > 1e-2) {
    return check.Error(where, "norm_eps = ", m.norm_eps(), ": must be in (0, 0.01]");
  }
  const struct {
    const char* field;
    int64_t value;
  } ints[] = {{"vocab_size", m.vocab_size()},  {"d_model", m.d_model()},
              {"n_layers", m.n_layers()},      {"n_heads", m.n_heads()},
              {"n_kv_heads", m.n_kv_heads()},  {"d_ff", m.d_ff()},
              {"max_context", m.max_context()}};
  for (const auto& f : ints) {
    if (f.value <= 0) return check.Error(where, f.field, " = ", f.value, ": must be positive");
  }
  if (absl::Status s = ToModelConfig(m).Validate(); !s.ok()) {
    return check.Error(where, s.message());
  }
  return absl::OkStatus();
}

absl::Status ValidateWorkload(const Checker& check, const v1::SuiteSpec& suite, int index,
                              const v1::Workload& w) {
  const std::string where = absl::StrCat("workloads[", index, "] '", w.name(), "': ");
  if (!ValidName(w.name())) {
    return check.Error(where, "name must be 1 to 64 characters of a-z 0-9 - _ . @");
  }
  if (w.kind() != v1::WORKLOAD_KIND_GENERATE && w.kind() != v1::WORKLOAD_KIND_SPECULATIVE) {
    return check.Error(where, "kind must be WORKLOAD_KIND_GENERATE or WORKLOAD_KIND_SPECULATIVE");
  }
  const v1::ModelShape* model = FindModel(suite, w.model());
  if (model == nullptr) return check.Error(where, "model '", w.model(), "' is not in models");
  if (w.prompt_tokens() <= 0) {
    return check.Error(where, "prompt_tokens = ", w.prompt_tokens(), ": must be positive");
  }
  if (w.generate_tokens() <= 0) {
    return check.Error(where, "generate_tokens = ", w.generate_tokens(), ": must be positive");
  }
  const bool spec = w.kind() == v1::WORKLOAD_KIND_SPECULATIVE;
  if (spec && (w.draft_tokens() < 1 || w.draft_tokens() > 16)) {
    return check.Error(where, "draft_tokens = ", w.draft_tokens(), ": must be 1 to 16");
  }
  // Each count is bounded before they are added: max_context is at most 2^22
  // (ModelConfig::Validate), so the sums below cannot overflow.
  for (const auto& [field, value] :
       {std::pair{"prompt_tokens", w.prompt_tokens()}, {"generate_tokens", w.generate_tokens()}}) {
    if (value > model->max_context()) {
      return check.Error(where, field, " = ", value, ": exceeds model '", model->name(),
                         "' max_context ", model->max_context());
    }
  }
  const int64_t extra = spec ? w.draft_tokens() + 1 : 0;
  if (w.prompt_tokens() + w.generate_tokens() + extra > model->max_context()) {
    return check.Error(where, "prompt_tokens + generate_tokens", spec ? " + draft_tokens + 1" : "",
                       " = ", w.prompt_tokens() + w.generate_tokens() + extra, ": exceeds model '",
                       model->name(), "' max_context ", model->max_context());
  }
  if (spec) {
    const v1::ModelShape* draft = FindModel(suite, w.draft_model());
    if (draft == nullptr) {
      return check.Error(where, "draft_model '", w.draft_model(), "' is not in models");
    }
    if (draft->vocab_size() != model->vocab_size()) {
      return check.Error(where, "draft_model '", draft->name(), "' vocab_size ",
                         draft->vocab_size(), " differs from model '", model->name(),
                         "' vocab_size ", model->vocab_size());
    }
    if (w.prompt_tokens() + w.generate_tokens() + extra > draft->max_context()) {
      return check.Error(where,
                         "prompt_tokens + generate_tokens + draft_tokens + 1 exceeds draft "
                         "model '",
                         draft->name(), "' max_context ", draft->max_context());
    }
    if (!(w.acceptance_rate() > 0 && w.acceptance_rate() <= 1)) {
      return check.Error(where, "acceptance_rate = ", w.acceptance_rate(), ": must be in (0, 1]");
    }
  } else if (!w.draft_model().empty() || w.draft_tokens() != 0 || w.acceptance_rate() != 0) {
    return check.Error(where,
                       "draft_model, draft_tokens and acceptance_rate are for speculative "
                       "workloads only");
  }
  if (w.metrics().empty()) return check.Error(where, "metrics: at least one is needed");
  std::set<std::string> names;
  std::set<int> kinds;
  for (int i = 0; i < w.metrics_size(); ++i) {
    const v1::MetricSpec& m = w.metrics(i);
    const std::string mwhere = absl::StrCat(where, "metrics[", i, "] '", m.name(), "': ");
    if (!ValidName(m.name())) {
      return check.Error(mwhere, "name must be 1 to 64 characters of a-z 0-9 - _ . @");
    }
    if (!names.insert(m.name()).second) return check.Error(mwhere, "name is used twice");
    if (!WorkloadMeasures(w.kind(), m.kind())) {
      return check.Error(mwhere, "kind ", v1::MetricKind_Name(m.kind()),
                         " is not measured by a workload of kind ",
                         v1::WorkloadKind_Name(w.kind()));
    }
    if (!kinds.insert(m.kind()).second) {
      return check.Error(mwhere, "kind ", v1::MetricKind_Name(m.kind()), " is used twice");
    }
    if (m.sub_score() == v1::SUB_SCORE_UNSPECIFIED) {
      if (!m.references().empty()) {
        return check.Error(mwhere, "references given for a metric without a sub_score");
      }
      continue;
    }
    if (!v1::SubScore_IsValid(m.sub_score())) return check.Error(mwhere, "sub_score is unknown");
    std::set<std::string> formats;
    for (int r = 0; r < m.references_size(); ++r) {
      const v1::Reference& ref = m.references(r);
      bool in_suite = false;
      for (const std::string& f : suite.formats()) in_suite |= f == ref.format();
      if (!in_suite) {
        return check.Error(mwhere, "references[", r, "]: format '", ref.format(),
                           "' is not among the suite's formats");
      }
      if (!formats.insert(ref.format()).second) {
        return check.Error(mwhere, "references[", r, "]: format '", ref.format(),
                           "' is given twice");
      }
      if (!Positive(ref.value())) {
        return check.Error(mwhere, "references[", r, "] '", ref.format(), "': value ", ref.value(),
                           " must be finite and positive");
      }
      if (m.kind() == v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE && ref.value() > 1) {
        return check.Error(mwhere, "references[", r, "]: a fraction must be at most 1");
      }
    }
    for (const std::string& f : suite.formats()) {
      if (!formats.count(f)) return check.Error(mwhere, "no reference for format '", f, "'");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSuite(const v1::SuiteSpec& suite) {
  const Checker check(suite);
  if (!ValidName(suite.name())) {
    return check.Error("name must be 1 to 64 characters of a-z 0-9 - _ . @");
  }
  if (suite.formats().empty()) return check.Error("formats: at least one is needed");
  std::set<std::string> formats;
  for (int i = 0; i < suite.formats_size(); ++i) {
    const std::string& f = suite.formats(i);
    absl::StatusOr<Format> format = FormatFromName(f);
    if (!format.ok() || *format == Format::kF32 || FormatName(*format) != f) {
      return check.Error("formats[", i, "] '", f, "': not a weight format (use lower case: ",
                         "f16, q8_0, q4_k, q2_k, q6_k, q3_k)");
    }
    if (!formats.insert(f).second) return check.Error("formats[", i, "] '", f, "' is given twice");
  }
  if (suite.models().empty()) return check.Error("models: at least one is needed");
  std::set<std::string> models;
  for (int i = 0; i < suite.models_size(); ++i) {
    if (absl::Status s = ValidateModel(check, i, suite.models(i)); !s.ok()) return s;
    if (!models.insert(suite.models(i).name()).second) {
      return check.Error("models[", i, "] '", suite.models(i).name(), "': name is used twice");
    }
  }
  if (suite.workloads().empty()) return check.Error("workloads: at least one is needed");
  std::set<std::string> workloads;
  for (int i = 0; i < suite.workloads_size(); ++i) {
    if (absl::Status s = ValidateWorkload(check, suite, i, suite.workloads(i)); !s.ok()) return s;
    if (!workloads.insert(suite.workloads(i).name()).second) {
      return check.Error("workloads[", i, "] '", suite.workloads(i).name(),
                         "': name is used twice");
    }
  }
  if (!suite.has_timing()) return check.Error("timing is missing");
  const v1::Timing& t = suite.timing();
  if (t.warmup_runs() < 0 || t.warmup_runs() > 10) {
    return check.Error("timing.warmup_runs = ", t.warmup_runs(), ": must be 0 to 10");
  }
  if (t.repetitions() < 1 || t.repetitions() > 100) {
    return check.Error("timing.repetitions = ", t.repetitions(), ": must be 1 to 100");
  }
  if (!Positive(t.max_case_seconds())) {
    return check.Error("timing.max_case_seconds = ", t.max_case_seconds(),
                       ": must be finite and positive");
  }
  if (!suite.has_reference_device()) return check.Error("reference_device is missing");
  const v1::ReferenceDevice& d = suite.reference_device();
  if (!Positive(d.memory_bandwidth())) {
    return check.Error("reference_device.memory_bandwidth = ", d.memory_bandwidth(),
                       ": must be finite and positive (bytes/s)");
  }
  if (!Positive(d.fp16_flops())) {
    return check.Error("reference_device.fp16_flops = ", d.fp16_flops(),
                       ": must be finite and positive (FLOP/s)");
  }
  if (!(d.memory_efficiency() > 0 && d.memory_efficiency() <= 1)) {
    return check.Error("reference_device.memory_efficiency = ", d.memory_efficiency(),
                       ": must be in (0, 1]");
  }
  if (!(d.compute_efficiency() > 0 && d.compute_efficiency() <= 1)) {
    return check.Error("reference_device.compute_efficiency = ", d.compute_efficiency(),
                       ": must be in (0, 1]");
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadedSuite> ParseSuite(std::string_view text, std::string_view origin) {
  LoadedSuite loaded;
  ErrorCollector errors(origin);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &loaded.spec)) {
    return absl::InvalidArgumentError(
        errors.first().empty() ? absl::StrCat(std::string(origin), ": not a valid suite textproto")
                               : errors.first());
  }
  if (absl::Status s = ValidateSuite(loaded.spec); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ": ", s.message()));
  }
  loaded.sha256 = Sha256Hex(text);
  loaded.origin = std::string(origin);
  return loaded;
}

absl::StatusOr<LoadedSuite> LoadSuiteFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open suite file ", path.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read suite file ", path.string()));
  return ParseSuite(text.str(), path.string());
}

absl::StatusOr<LoadedSuite> LoadBuiltInSuite(std::string_view name) {
  for (const BuiltInSuite& s : BuiltInSuites()) {
    if (s.name == name) {
      return ParseSuite(s.bytes, absl::StrCat("built-in suite ", std::string(s.name)));
    }
  }
  return absl::NotFoundError(absl::StrCat("unknown suite '", std::string(name),
                                          "': the built-in suites are ",
                                          absl::StrJoin(BuiltInSuiteNames(), ", ")));
}

absl::StatusOr<LoadedSuite> LoadSuite(std::string_view name_or_path) {
  if (absl::StatusOr<LoadedSuite> s = LoadBuiltInSuite(name_or_path);
      s.status().code() != absl::StatusCode::kNotFound) {
    return s;
  }
  const std::filesystem::path path(name_or_path);
  std::error_code ec;
  if (name_or_path.find('/') == std::string_view::npos && !std::filesystem::exists(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown suite '", std::string(name_or_path), "': use one of ",
        absl::StrJoin(BuiltInSuiteNames(), ", "), " or the path of a .textproto file"));
  }
  return LoadSuiteFile(path);
}

std::vector<std::string> BuiltInSuiteNames() {
  std::vector<std::string> names;
  for (const BuiltInSuite& s : BuiltInSuites()) names.emplace_back(s.name);
  return names;
}

std::string Sha256Hex(std::string_view bytes) {
  static const int sodium_ready = sodium_init();  // CPU feature detection; idempotent
  (void)sodium_ready;
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * sizeof(digest));
  for (unsigned char b : digest) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 15]);
  }
  return hex;
}

ModelConfig ToModelConfig(const v1::ModelShape& shape) {
  ModelConfig c;
  c.name = shape.name();
  c.vocab_size = shape.vocab_size();
  c.d_model = shape.d_model();
  c.n_layers = shape.n_layers();
  c.n_heads = shape.n_heads();
  c.n_kv_heads = shape.n_kv_heads();
  c.d_ff = shape.d_ff();
  c.rope_theta = static_cast<float>(shape.rope_theta());
  c.norm_eps = static_cast<float>(shape.norm_eps());
  c.max_context = shape.max_context();
  return c;
}

v1::ModelShape ToModelShape(const ModelConfig& c) {
  v1::ModelShape shape;
  shape.set_name(c.name);
  shape.set_vocab_size(c.vocab_size);
  shape.set_d_model(c.d_model);
  shape.set_n_layers(c.n_layers);
  shape.set_n_heads(c.n_heads);
  shape.set_n_kv_heads(c.n_kv_heads);
  shape.set_d_ff(c.d_ff);
  shape.set_rope_theta(c.rope_theta);
  shape.set_norm_eps(c.norm_eps);
  shape.set_max_context(c.max_context);
  return shape;
}

const v1::ModelShape* FindModel(const v1::SuiteSpec& suite, std::string_view name) {
  for (const v1::ModelShape& m : suite.models()) {
    if (m.name() == name) return &m;
  }
  return nullptr;
}

std::string CaseName(std::string_view workload, std::string_view format) {
  return absl::StrCat(std::string(workload), "/", std::string(format));
}

bool WorkloadMeasures(v1::WorkloadKind workload, v1::MetricKind metric) {
  switch (metric) {
    case v1::METRIC_KIND_PREFILL_RATE:
    case v1::METRIC_KIND_TIME_TO_FIRST_TOKEN:
    case v1::METRIC_KIND_DECODE_RATE:
      return workload == v1::WORKLOAD_KIND_GENERATE;
    case v1::METRIC_KIND_EFFECTIVE_RATE:
    case v1::METRIC_KIND_DRAFT_STEP_TIME:
    case v1::METRIC_KIND_VERIFY_TIME:
    case v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE:
    case v1::METRIC_KIND_TARGET_STEP_TIME:
    case v1::METRIC_KIND_COST_RATIO:
    case v1::METRIC_KIND_VERIFY_RATIO:
    case v1::METRIC_KIND_SPEEDUP:
    case v1::METRIC_KIND_PREDICTED_SPEEDUP:
    case v1::METRIC_KIND_REALIZED_ACCEPTANCE:
      return workload == v1::WORKLOAD_KIND_SPECULATIVE;
    default:
      return false;
  }
}

bool HigherIsBetter(v1::MetricKind kind) {
  switch (kind) {
    case v1::METRIC_KIND_TIME_TO_FIRST_TOKEN:
    case v1::METRIC_KIND_DRAFT_STEP_TIME:
    case v1::METRIC_KIND_VERIFY_TIME:
    case v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE:
    case v1::METRIC_KIND_TARGET_STEP_TIME:
    case v1::METRIC_KIND_COST_RATIO:
    case v1::METRIC_KIND_VERIFY_RATIO:
      return false;
    default:
      return true;
  }
}

v1::Unit UnitOf(v1::MetricKind kind) {
  switch (kind) {
    case v1::METRIC_KIND_PREFILL_RATE:
    case v1::METRIC_KIND_DECODE_RATE:
    case v1::METRIC_KIND_EFFECTIVE_RATE:
      return v1::UNIT_TOKENS_PER_SECOND;
    case v1::METRIC_KIND_TIME_TO_FIRST_TOKEN:
    case v1::METRIC_KIND_DRAFT_STEP_TIME:
    case v1::METRIC_KIND_VERIFY_TIME:
    case v1::METRIC_KIND_TARGET_STEP_TIME:
      return v1::UNIT_SECONDS;
    case v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE:
    case v1::METRIC_KIND_REALIZED_ACCEPTANCE:
      return v1::UNIT_FRACTION;
    case v1::METRIC_KIND_COST_RATIO:
    case v1::METRIC_KIND_VERIFY_RATIO:
    case v1::METRIC_KIND_SPEEDUP:
    case v1::METRIC_KIND_PREDICTED_SPEEDUP:
      return v1::UNIT_RATIO;
    default:
      return v1::UNIT_UNSPECIFIED;
  }
}

std::string UnitSymbol(v1::Unit unit) {
  switch (unit) {
    case v1::UNIT_TOKENS_PER_SECOND:
      return "t/s";
    case v1::UNIT_SECONDS:
      return "s";
    case v1::UNIT_FRACTION:
      return "fraction";
    case v1::UNIT_RATIO:
      return "x";
    default:
      return "";
  }
}

std::string CaseStatusName(v1::CaseStatus status) {
  switch (status) {
    case v1::CASE_STATUS_OK:
      return "ok";
    case v1::CASE_STATUS_DOES_NOT_FIT:
      return "does not fit";
    case v1::CASE_STATUS_SELF_CHECK_FAILED:
      return "self-check failed";
    case v1::CASE_STATUS_NOT_RUN:
      return "not run";
    case v1::CASE_STATUS_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

}  // namespace aiscore
