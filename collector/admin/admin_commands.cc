#include "collector/admin/admin_commands.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "agent/sign/key_pair.h"
#include "collector/service/stored_result.h"
#include "nlohmann/json.hpp"

namespace aiscore::collector {
namespace {

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string ReceivedAt(int64_t received_us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(received_us),
                          absl::UTCTimeZone());
}

// One CSV field, quoted when it holds a comma, a quote or a line break.
std::string CsvField(std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(field);
  std::string quoted = "\"";
  for (char c : field) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

using Json = nlohmann::json;

// The sub-scores over every format, when the result has them.
const SubScoreValues* OverallSub(const StoredResult& r) {
  for (const StoredScores& s : r.scores) {
    if (s.format.empty()) return &s.sub;
  }
  return nullptr;
}

// A sub-score column: null for a result without scores (a custom model).
template <double SubScoreValues::*field>
Json Sub(const StoredResult& r) {
  const SubScoreValues* sub = OverallSub(r);
  return sub != nullptr ? Json(sub->*field) : Json();
}

// The export's columns: written once, rendered by both formats.
struct Column {
  const char* name;
  Json (*value)(const StoredResult& r);
};
const Column kColumns[] = {
    {"id", [](const StoredResult& r) { return Json(r.id); }},
    {"received_at", [](const StoredResult& r) { return Json(ReceivedAt(r.received_us)); }},
    {"key", [](const StoredResult& r) { return Json(KeyFingerprint(r.public_key)); }},
    {"suite", [](const StoredResult& r) { return Json(r.suite); }},
    {"suite_sha256", [](const StoredResult& r) { return Json(r.suite_sha256); }},
    {"gpu", [](const StoredResult& r) { return Json(r.gpu); }},
    {"backend", [](const StoredResult& r) { return Json(r.backend); }},
    {"score", [](const StoredResult& r) { return Json(r.score); }},
    {"prefill", Sub<&SubScoreValues::prefill>},
    {"decode", Sub<&SubScoreValues::decode>},
    {"latency", Sub<&SubScoreValues::latency>},
    {"long_context", Sub<&SubScoreValues::long_context>},
    {"speculative", Sub<&SubScoreValues::speculative>},
    {"capacity", Sub<&SubScoreValues::capacity>},
    {"status", [](const StoredResult& r) { return Json(r.status); }},
    {"flags", [](const StoredResult& r) { return Json(absl::StrJoin(FlagNames(r.flags), "|")); }},
    {"ranked", [](const StoredResult& r) { return Json(r.ranked()); }},
};

// A value as a CSV field: strings verbatim (quoted as needed), numbers in
// shortest round-trip form, null as empty.
std::string CsvValue(const Json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return CsvField(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();
}

}  // namespace

absl::StatusOr<std::string> ResolveKey(ResultStore& store, std::string_view who) {
  const std::string text(who);  // absl here takes its own string_view, not std's
  if (who.starts_with("result:")) {
    absl::StatusOr<StoredResult> r = store.GetById(who.substr(7));
    if (!r.ok()) return r.status();
    return r->public_key;
  }
  if (who.size() == 2 * kPublicKeyBytes && IsHex(who)) {
    return std::string(absl::HexStringToBytes(text));
  }
  if (who.size() == 7 + 32 && who.starts_with("SHA256:") && IsHex(who.substr(7))) {
    absl::StatusOr<std::vector<std::string>> keys = store.AgentKeys();
    if (!keys.ok()) return keys.status();
    const std::string wanted = absl::AsciiStrToLower(text);
    for (const std::string& key : *keys) {
      if (absl::AsciiStrToLower(KeyFingerprint(key)) == wanted) return key;
    }
    return absl::NotFoundError(absl::StrCat("no key with fingerprint ", wanted,
                                            " has submitted here; ban it by its 64 hex digits"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", text,
                   "' names no key: give a fingerprint (SHA256: and 32 hex digits), the public "
                   "key's 64 hex digits, or result:ID"));
}

absl::Status Ban(ResultStore& store, std::string_view who, bool banned, std::ostream& out) {
  absl::StatusOr<std::string> key = ResolveKey(store, who);
  if (!key.ok()) return key.status();
  absl::StatusOr<int64_t> results = store.SetBanned(*key, banned);
  if (!results.ok()) return results.status();
  out << (banned ? "banned " : "lifted the ban on ") << KeyFingerprint(*key) << " (" << *results
      << " stored results " << (banned ? "taken off" : "back on") << " the leaderboard)\n";
  return absl::OkStatus();
}

absl::Status RescoreAll(ResultStore& store, const SubmissionVerifier& verifier, std::ostream& out) {
  absl::StatusOr<int64_t> n = store.Rescore(MakeRescorer(&verifier));
  if (!n.ok()) return n.status();
  out << "rescored " << *n << " results and rebuilt the leaderboard aggregates\n";
  return absl::OkStatus();
}

std::string ExportColumns() {
  std::vector<std::string> names;
  for (const Column& c : kColumns) names.push_back(c.name);
  return absl::StrJoin(names, ",");
}

absl::Status Export(ResultStore& store, ExportFormat format, std::ostream& out) {
  bool first = true;
  if (format == ExportFormat::kCsv) {
    out << ExportColumns() << "\r\n";
  } else {
    out << "[";
  }
  absl::Status s = store.ForEachResult([&](const StoredResult& r) {
    if (format == ExportFormat::kCsv) {
      for (const Column& c : kColumns) out << (&c == kColumns ? "" : ",") << CsvValue(c.value(r));
      out << "\r\n";
    } else {
      Json row = Json::object();
      for (const Column& c : kColumns) row[c.name] = c.value(r);
      out << (first ? "\n" : ",\n") << row.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    first = false;
    return out.good() ? absl::OkStatus() : absl::DataLossError("writing the export failed");
  });
  if (!s.ok()) return s;
  if (format == ExportFormat::kJson) out << (first ? "]\n" : "\n]\n");
  out.flush();
  return out.good() ? absl::OkStatus() : absl::DataLossError("writing the export failed");
}

absl::Status BackupTo(ResultStore& store, const std::string& destination, std::ostream& out) {
  if (absl::Status s = store.Backup(destination); !s.ok()) return s;
  out << "backed up to " << destination << "\n";
  return absl::OkStatus();
}

}  // namespace aiscore::collector
