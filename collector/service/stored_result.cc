#include "collector/service/stored_result.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "scoring/hardware_table.h"

namespace aiscore::collector {
namespace {

StoredScores ToStored(std::string format, const ScoreReport& r) {
  return StoredScores{std::move(format),
                      r.score,
                      {r.prefill, r.decode, r.latency, r.long_context, r.speculative, r.capacity}};
}

// "Intel(R) Xeon(R) CPU  @ 2.2GHz" -> "Intel Xeon CPU @ 2.2GHz".
std::string CleanCpuName(const std::string& model) {
  std::string s =
      absl::StrReplaceAll(model, {{"(R)", ""}, {"(r)", ""}, {"(TM)", ""}, {"(tm)", ""}});
  std::vector<absl::string_view> words = absl::StrSplit(s, ' ', absl::SkipWhitespace());
  std::string joined = absl::StrJoin(words, " ");
  return joined.empty() ? "unknown" : joined;
}

}  // namespace

std::string DeviceNameOf(const v1::RunResult& result) {
  if (result.hardware().gpus_size() > 0) {
    const v1::GpuInfo& gpu = result.hardware().gpus(0);
    return CanonicalDeviceName(gpu.name(), gpu.memory_bytes());
  }
  return "CPU: " + CleanCpuName(result.hardware().cpu().model());
}

std::vector<StoredScores> ToStoredScores(
    const ScoreReport& overall, const std::vector<std::pair<std::string, ScoreReport>>& by_format) {
  std::vector<StoredScores> scores;
  scores.push_back(ToStored("", overall));
  for (const auto& [format, report] : by_format) scores.push_back(ToStored(format, report));
  return scores;
}

int64_t UnrankableFlags(bool custom_model, bool rankable_suite) {
  if (custom_model) return kFlagCustomModel;
  return rankable_suite ? int64_t{0} : int64_t{kFlagUnrankableSuite};
}

StoredResult MakeStoredResult(const v1::SignedResult& envelope, const Verdict& verdict,
                              int64_t received_us) {
  const v1::RunResult& r = verdict.result;
  StoredResult s;
  s.nonce = r.nonce();
  s.public_key = envelope.public_key();
  s.suite = r.suite().name();
  s.suite_sha256 = r.suite().sha256();
  s.received_us = received_us;
  s.gpu = DeviceNameOf(r);
  s.backend = r.backend().name();
  s.score = verdict.score.score;
  s.flags = UnrankableFlags(verdict.custom_model, verdict.rankable_suite);
  s.status = "accepted";
  s.envelope = envelope.SerializeAsString();
  for (const v1::CaseResult& c : r.cases()) {
    for (const v1::Measurement& m : c.measurements()) {
      s.cases.push_back(StoredCase{c.name(), m.name(), m.median()});
    }
    if (c.status() == v1::CASE_STATUS_OK && c.peak_memory_bytes() > 0) {
      s.cases.push_back(
          StoredCase{c.name(), kPeakMemoryMetric, static_cast<double>(c.peak_memory_bytes())});
    }
  }
  if (!verdict.custom_model) s.scores = ToStoredScores(verdict.score, verdict.format_scores);
  return s;
}

RescoreFn MakeRescorer(const SubmissionVerifier* verifier) {
  return [verifier](const StoredResult& stored) -> absl::StatusOr<Rescored> {
    v1::SignedResult envelope;
    v1::RunResult result;
    if (!envelope.ParseFromString(stored.envelope) || !result.ParseFromString(envelope.payload())) {
      return absl::DataLossError("the stored envelope does not parse");
    }
    absl::StatusOr<ResultScores> scores = verifier->ScoreResult(result);
    if (!scores.ok()) return scores.status();
    Rescored out;
    out.score = scores->overall.score;
    out.unrankable_flags = UnrankableFlags(scores->custom_model, scores->rankable_suite);
    if (!scores->custom_model) out.scores = ToStoredScores(scores->overall, scores->by_format);
    return out;
  };
}

}  // namespace aiscore::collector
