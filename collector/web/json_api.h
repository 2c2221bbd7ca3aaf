// The collector's JSON API, /api/v1: the answers of the gRPC read calls
// (proto/aiscore/v1/collector.proto) as JSON, for scripts and browsers.
//
//   GET /api/v1                 the list of endpoints
//   GET /api/v1/leaderboard     GetLeaderboard: ?suite=&gpu=&backend=&format=
//                               &sort=median|best|results|name&page_size=&page_token=
//   GET /api/v1/results/ID      GetResult
//   GET /api/v1/gpus            ListGpus: ?suite=
//   GET /api/v1/predict         Predict: ?gpu=NAME&model=PRESET&format=&context=
//                               (or memory_bytes=&bandwidth=&flops=&family= for a GPU
//                               by its figures)
//
// A 200 body is the response message in protobuf's canonical JSON mapping with
// the proto's field names (snake_case), fields at their default values
// included, 64-bit integers as strings, enums by name; JsonStringToMessage
// reads it back into the same message. An error is
// {"error": {"code": "NOT_FOUND", "http_status": 404, "message": "..."}} with
// that HTTP status (site.h HttpStatusOf; 400 for a malformed parameter, and
// for a path or query parameter that is not valid UTF-8, which JSON cannot
// carry).
// docs/api.md is the reference.
#ifndef AISCORE_COLLECTOR_WEB_JSON_API_H_
#define AISCORE_COLLECTOR_WEB_JSON_API_H_

#include <optional>

#include "collector/http/http_routes.h"
#include "collector/web/site.h"

namespace aiscore::collector::web {

// The 400 for a request whose path or a query parameter (name or value) is
// not valid UTF-8, naming it; nullopt for a request that is.
std::optional<HttpResponse> ApiRejectNotUtf8(const HttpRequest& request);

HttpResponse ApiIndex(const Site& site, const HttpRequest& request);
HttpResponse ApiLeaderboard(const Site& site, const HttpRequest& request);
HttpResponse ApiResult(const Site& site, const HttpRequest& request);
HttpResponse ApiGpus(const Site& site, const HttpRequest& request);
HttpResponse ApiPredict(const Site& site, const HttpRequest& request);

}  // namespace aiscore::collector::web

#endif  // AISCORE_COLLECTOR_WEB_JSON_API_H_
