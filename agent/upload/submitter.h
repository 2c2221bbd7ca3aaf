// Sends queued signed results to a collector, one file at a time, and keeps
// the queue honest: a file leaves the queue only when the collector
// acknowledged it (ACCEPTED, ACCEPTED_FLAGGED, DUPLICATE) or refused it for
// good (REJECTED, INVALID_ARGUMENT, or it fails verification here), in which
// case it goes to rejected/ with the reason. Anything else (collector down,
// deadline, a full disk) leaves it queued for the next try.
//
// Not thread-safe: one submitter per queue at a time.
#ifndef AISCORE_AGENT_UPLOAD_SUBMITTER_H_
#define AISCORE_AGENT_UPLOAD_SUBMITTER_H_

#include <cstdio>
#include <filesystem>
#include <vector>

#include "agent/upload/collector_client.h"
#include "agent/upload/result_queue.h"

namespace aiscore {

// What became of the files of one SubmitQueued call; each file counts once.
struct SubmitReport {
  int sent = 0;       // ACCEPTED or ACCEPTED_FLAGGED; removed from the queue
  int duplicate = 0;  // DUPLICATE: the collector had it already; removed
  int rejected = 0;   // refused for good; moved to rejected/ (or left where it was)
  int failed = 0;     // not delivered this time; still queued (or unreadable)

  // Every file was acknowledged.
  bool ok() const { return rejected == 0 && failed == 0; }
};

// Submits `files` in order. A file outside the queue's directory is first
// copied into the queue (the original is left alone), so it is not lost if
// sending fails. Each file is read and verified locally before it is sent; a
// file that fails verification is never sent. One line per file goes to
// `log`: the collector's id, status and score, or why the file was rejected
// or kept.
SubmitReport SubmitQueued(CollectorClient& client, ResultQueue& queue,
                          const std::vector<std::filesystem::path>& files, std::FILE* log);

}  // namespace aiscore

#endif  // AISCORE_AGENT_UPLOAD_SUBMITTER_H_
