#include "collector/web/json_api.h"

#include <google/protobuf/util/json_util.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/web/html.h"
#include "nlohmann/json.hpp"

namespace aiscore::collector::web {
namespace {

constexpr char kResultsPrefix[] = "/api/v1/results/";

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  r.body += '\n';
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

HttpResponse JsonError(int status, const std::string& code, const std::string& message) {
  nlohmann::json body = {
      {"error", {{"code", code}, {"http_status", status}, {"message", message}}}};
  // Replace, not throw, on bytes that are not UTF-8 (a message may quote input).
  return Json(status, body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "INTERNAL";
  }
}

HttpResponse FromGrpc(const grpc::Status& status) {
  return JsonError(HttpStatusOf(status.error_code()), CodeName(status.error_code()),
                   status.error_message());
}

HttpResponse BadParameter(const std::string& message) {
  return JsonError(400, "INVALID_ARGUMENT", message);
}

template <typename Message>
HttpResponse Answer(const grpc::Status& status, const Message& message) {
  if (!status.ok()) return FromGrpc(status);
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string body;
  if (!google::protobuf::util::MessageToJsonString(message, &body, options).ok()) {
    return JsonError(500, "INTERNAL", "the answer does not convert to JSON");
  }
  return Json(200, std::move(body));
}

// Parses an optional whole-number parameter into `out`; false when malformed.
template <typename Int>
bool IntParam(const HttpRequest& request, const std::string& name, Int* out) {
  const std::string text = Param(request, name);
  return text.empty() || absl::SimpleAtoi(text, out);
}

}  // namespace

std::optional<HttpResponse> ApiRejectNotUtf8(const HttpRequest& request) {
  if (!IsValidUtf8(request.path)) return BadParameter("the path is not valid UTF-8");
  for (const auto& [name, value] : request.params) {
    if (!IsValidUtf8(name)) return BadParameter("a query parameter's name is not valid UTF-8");
    if (!IsValidUtf8(value)) {
      return BadParameter("query parameter '" + name + "' is not valid UTF-8");
    }
  }
  return std::nullopt;
}

HttpResponse ApiIndex(const Site&, const HttpRequest&) {
  nlohmann::json index = {
      {"leaderboard",
       "/api/v1/leaderboard?suite=&gpu=&backend=&format=&sort=&page_size=&page_token="},
      {"result", "/api/v1/results/{id}"},
      {"gpus", "/api/v1/gpus?suite="},
      {"predict", "/api/v1/predict?gpu=&model=&format=&context="},
      {"documentation", "docs/api.md"}};
  return Json(200, index.dump(2));
}

HttpResponse ApiLeaderboard(const Site& site, const HttpRequest& request) {
  v1::GetLeaderboardRequest read;
  read.set_suite(Param(request, "suite"));
  read.set_gpu_filter(Param(request, "gpu"));
  read.set_backend(Param(request, "backend"));
  read.set_format(Param(request, "format"));
  read.set_page_token(Param(request, "page_token"));
  const std::string sort = absl::AsciiStrToLower(Param(request, "sort", "median"));
  if (sort == "median") {
    read.set_sort(v1::LEADERBOARD_SORT_MEDIAN_SCORE);
  } else if (sort == "best") {
    read.set_sort(v1::LEADERBOARD_SORT_BEST_SCORE);
  } else if (sort == "results") {
    read.set_sort(v1::LEADERBOARD_SORT_RESULTS);
  } else if (sort == "name") {
    read.set_sort(v1::LEADERBOARD_SORT_NAME);
  } else {
    return BadParameter("sort must be one of median, best, results, name; got '" + sort + "'");
  }
  int32_t page_size = 0;
  if (!IntParam(request, "page_size", &page_size)) {
    return BadParameter("page_size must be a whole number; got '" + Param(request, "page_size") +
                        "'");
  }
  read.set_page_size(page_size);
  v1::GetLeaderboardResponse response;
  grpc::Status status = site.service->ReadLeaderboard(read, &response);
  return Answer(status, response);
}

HttpResponse ApiResult(const Site& site, const HttpRequest& request) {
  v1::GetResultRequest read;
  read.set_id(request.path.substr(std::string_view(kResultsPrefix).size()));
  v1::GetResultResponse response;
  grpc::Status status = site.service->ReadResult(read, &response);
  return Answer(status, response);
}

HttpResponse ApiGpus(const Site& site, const HttpRequest& request) {
  v1::ListGpusRequest read;
  read.set_suite(Param(request, "suite"));
  v1::ListGpusResponse response;
  grpc::Status status = site.service->ReadGpus(read, &response);
  return Answer(status, response);
}

HttpResponse ApiPredict(const Site& site, const HttpRequest& request) {
  v1::PredictRequest ask;
  const std::string gpu = Param(request, "gpu");
  if (!gpu.empty()) {
    ask.mutable_gpu()->set_name(gpu);
  } else if (!Param(request, "memory_bytes").empty()) {
    v1::GpuFigures* f = ask.mutable_gpu()->mutable_figures();
    int64_t memory = 0;
    double bandwidth = 0, flops = 0;
    if (!IntParam(request, "memory_bytes", &memory) ||
        !absl::SimpleAtod(Param(request, "bandwidth", "0"), &bandwidth) ||
        !absl::SimpleAtod(Param(request, "flops", "0"), &flops)) {
      return BadParameter("memory_bytes, bandwidth (bytes/s) and flops (FLOP/s) must be numbers");
    }
    f->set_memory_bytes(memory);
    f->set_memory_bandwidth(bandwidth);
    f->set_fp16_flops(flops);
    f->set_family(Param(request, "family"));
  }
  const std::string model = Param(request, "model");
  if (!model.empty()) ask.mutable_model()->set_preset(model);
  ask.set_format(Param(request, "format"));
  int64_t context = 0;
  if (!IntParam(request, "context", &context)) {
    return BadParameter("context must be a whole number of tokens; got '" +
                        Param(request, "context") + "'");
  }
  ask.set_context_tokens(context);
  v1::PredictResponse response;
  grpc::Status status = site.service->ReadPrediction(ask, &response);
  return Answer(status, response);
}

}  // namespace aiscore::collector::web
