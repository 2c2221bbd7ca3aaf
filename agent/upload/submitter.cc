#include "agent/upload/submitter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/sign/envelope.h"
#include "agent/sign/envelope_file.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

enum class Outcome { kSent, kDuplicate, kRejected, kFailed };

void Print(std::FILE* log, const fs::path& file, const std::string& line) {
  std::fprintf(log, "%s: %s\n", file.filename().string().c_str(), line.c_str());
  std::fflush(log);
}

// Moves a queued file to rejected/ and reports it.
Outcome Reject(ResultQueue& queue, const fs::path& file, const std::string& reason,
               std::FILE* log) {
  absl::StatusOr<fs::path> moved = queue.MoveToRejected(file, reason);
  if (!moved.ok()) {
    Print(log, file,
          absl::StrCat("rejected (", reason, ") but it stays queued: ", moved.status().message()));
  } else {
    Print(log, file, absl::StrCat("rejected: ", reason, "; moved to ", moved->string()));
  }
  return Outcome::kRejected;
}

Outcome SubmitOne(CollectorClient& client, ResultQueue& queue, const fs::path& file,
                  std::FILE* log) {
  absl::StatusOr<aiscore::v1::SignedResult> envelope = ReadEnvelopeFile(file);
  if (!envelope.ok()) {
    // A damaged file will not get better; an unreadable one might.
    if (absl::IsDataLoss(envelope.status())) {
      return Reject(queue, file, absl::StrCat("unreadable: ", envelope.status().message()), log);
    }
    Print(log, file, absl::StrCat("kept in the queue: ", envelope.status().message()));
    return Outcome::kFailed;
  }
  if (absl::StatusOr<aiscore::v1::RunResult> verified = VerifyEnvelope(*envelope); !verified.ok()) {
    return Reject(queue, file,
                  absl::StrCat("local verification failed: ", verified.status().message()), log);
  }
  aiscore::v1::SubmitRequest request;
  *request.mutable_envelope() = std::move(*envelope);
  absl::StatusOr<aiscore::v1::SubmitResponse> response = client.Submit(request);
  if (!response.ok()) {
    if (absl::IsInvalidArgument(response.status())) {
      return Reject(queue, file, absl::StrCat("INVALID_ARGUMENT: ", response.status().message()),
                    log);
    }
    Print(log, file, absl::StrCat("kept in the queue: ", response.status().message()));
    return Outcome::kFailed;
  }
  const auto& r = *response;
  switch (r.status()) {
    case aiscore::v1::SUBMIT_STATUS_ACCEPTED:
    case aiscore::v1::SUBMIT_STATUS_ACCEPTED_FLAGGED:
    case aiscore::v1::SUBMIT_STATUS_DUPLICATE: {
      std::string line =
          absl::StrCat("id ", r.id(), " ", aiscore::v1::SubmitStatus_Name(r.status()).substr(14),
                       ", score ", absl::StrFormat("%.1f", r.score()));
      if (!r.flags().empty()) absl::StrAppend(&line, ", flags ", absl::StrJoin(r.flags(), ","));
      if (!r.message().empty()) absl::StrAppend(&line, " (", r.message(), ")");
      if (absl::Status s = queue.Remove(file); !s.ok()) {
        absl::StrAppend(&line,
                        "; could not remove it from the queue (it will be sent again as a "
                        "duplicate): ",
                        s.message());
      }
      Print(log, file, line);
      return r.status() == aiscore::v1::SUBMIT_STATUS_DUPLICATE ? Outcome::kDuplicate
                                                                : Outcome::kSent;
    }
    case aiscore::v1::SUBMIT_STATUS_REJECTED:
      return Reject(queue, file,
                    absl::StrCat("collector ", client.target(), " rejected it: ",
                                 aiscore::v1::RejectReason_Name(r.reason()), ": ", r.message()),
                    log);
    default:
      Print(log, file,
            absl::StrCat("kept in the queue: collector ", client.target(),
                         " answered with no known status (", static_cast<int>(r.status()), ")"));
      return Outcome::kFailed;
  }
}

}  // namespace

SubmitReport SubmitQueued(CollectorClient& client, ResultQueue& queue,
                          const std::vector<fs::path>& files, std::FILE* log) {
  SubmitReport report;
  for (const fs::path& given : files) {
    fs::path file = given;
    if (!queue.Contains(given)) {
      absl::StatusOr<aiscore::v1::SignedResult> envelope = ReadEnvelopeFile(given);
      if (!envelope.ok()) {
        Print(log, given, absl::StrCat("not sent: ", envelope.status().message()));
        ++report.failed;
        continue;
      }
      absl::StatusOr<fs::path> queued = queue.Enqueue(*envelope);
      if (!queued.ok()) {
        Print(log, given, absl::StrCat("not sent: cannot queue it: ", queued.status().message()));
        ++report.failed;
        continue;
      }
      Print(log, given, absl::StrCat("queued as ", queued->string()));
      file = *queued;
    }
    switch (SubmitOne(client, queue, file, log)) {
      case Outcome::kSent:
        ++report.sent;
        break;
      case Outcome::kDuplicate:
        ++report.duplicate;
        break;
      case Outcome::kRejected:
        ++report.rejected;
        break;
      case Outcome::kFailed:
        ++report.failed;
        break;
    }
  }
  return report;
}

}  // namespace aiscore
