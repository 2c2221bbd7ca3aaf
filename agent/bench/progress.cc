#include "agent/bench/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "aiscore/v1/result.pb.h"

namespace aiscore {
namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

ProgressPrinter::ProgressPrinter(std::FILE* out, bool live) : out_(out), live_(live) {
  if (live_) ticker_ = std::thread([this] { Tick(); });
}

ProgressPrinter::ProgressPrinter(std::FILE* out) : ProgressPrinter(out, isatty(fileno(out))) {}

ProgressPrinter::~ProgressPrinter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    EndLine();
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

void ProgressPrinter::Tick() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::seconds(1));
    if (!stop_ && in_case_) Draw();
  }
}

void ProgressPrinter::OnPlan(const std::vector<CasePlan>& plan, double estimated_seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  total_ = plan.size();
  run_start_ = std::chrono::steady_clock::now();
  size_t selected = 0;
  for (const CasePlan& c : plan) selected += c.selected && c.not_run_reason.empty();
  absl::FPrintF(out_, "%d cases (%d to run), estimated %s\n", total_, selected,
                FormatDuration(estimated_seconds));
  std::fflush(out_);
}

void ProgressPrinter::OnCaseStart(size_t index, const CasePlan& plan, double remaining_seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  index_ = index;
  case_name_ = plan.name;
  case_remaining_ = remaining_seconds;
  case_start_ = std::chrono::steady_clock::now();
  step_ = "starting";
  in_case_ = true;
  if (live_) {
    Draw();
  } else {
    absl::FPrintF(out_, "[%d/%d] %s: started, about %s left in the run\n", index + 1, total_,
                  case_name_, FormatDuration(remaining_seconds));
    std::fflush(out_);
  }
}

void ProgressPrinter::OnStep(size_t index, std::string_view what) {
  std::lock_guard<std::mutex> lock(mutex_);
  step_ = std::string(what);
  if (live_) Draw();
}

void ProgressPrinter::OnCaseEnd(size_t index, const v1::CaseResult& result) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_case_ = false;
  EndLine();
  std::string what = v1::CaseStatus_Name(result.status());
  if (result.status() == v1::CASE_STATUS_OK) {
    what = "ok";
    for (const v1::Measurement& m : result.measurements()) {
      absl::StrAppendFormat(&what, "  %s %.4g", m.name(), m.median());
    }
  } else if (!result.reason().empty()) {
    what += ": " + result.reason();
  }
  absl::FPrintF(out_, "[%d/%d] %s: %s (%.1f s)\n", index + 1, total_, result.name(), what,
                result.wall_seconds());
  std::fflush(out_);
}

void ProgressPrinter::Draw() {
  const double left = std::max(0.0, case_remaining_ - Since(case_start_));
  const std::string line =
      absl::StrFormat("[%d/%d] %s  %s  elapsed %s  left ~%s", index_ + 1, total_, case_name_, step_,
                      FormatDuration(Since(run_start_)), FormatDuration(left));
  absl::FPrintF(out_, "\r\033[K%s", line);
  std::fflush(out_);
  line_open_ = true;
}

void ProgressPrinter::EndLine() {
  if (!line_open_) return;
  absl::FPrintF(out_, "\r\033[K");
  line_open_ = false;
}

}  // namespace aiscore
