// Shows a run's progress on stderr: on a terminal, one live line
// ("[3/12] chat/q4_k  repetition 2/5  elapsed 1:23  left ~4:56") redrawn in
// place; when stderr is a pipe or file, a plain line per case start and end.
#ifndef AISCORE_AGENT_BENCH_PROGRESS_H_
#define AISCORE_AGENT_BENCH_PROGRESS_H_

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "agent/bench/runner.h"

namespace aiscore {

class ProgressPrinter : public RunObserver {
 public:
  // `live`: redraw one line in place (a terminal); else plain lines.
  ProgressPrinter(std::FILE* out, bool live);
  // Live when `out` is a terminal.
  explicit ProgressPrinter(std::FILE* out);
  ~ProgressPrinter() override;

  void OnPlan(const std::vector<CasePlan>& plan, double estimated_seconds) override;
  void OnCaseStart(size_t index, const CasePlan& plan, double remaining_seconds) override;
  void OnStep(size_t index, std::string_view what) override;
  void OnCaseEnd(size_t index, const v1::CaseResult& result) override;

 private:
  void Draw();     // with mutex_ held
  void EndLine();  // with mutex_ held
  void Tick();     // the redraw thread

  std::FILE* out_;
  bool live_;
  size_t total_ = 0;
  size_t index_ = 0;
  std::string case_name_;
  double case_remaining_ = 0;  // estimate at the case's start, s
  std::chrono::steady_clock::time_point run_start_, case_start_;
  std::string step_;
  bool line_open_ = false;
  bool in_case_ = false;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread ticker_;  // live only
};

// "1:23", "1:02:03"
std::string FormatDuration(double seconds);

}  // namespace aiscore

#endif  // AISCORE_AGENT_BENCH_PROGRESS_H_
