#include "collector/web/site.h"

#include <optional>
#include <utility>

#include "collector/web/json_api.h"
#include "collector/web/pages.h"

namespace aiscore::collector::web {

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 400;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

void AddSiteRoutes(const Site& site, HttpRoutes& routes) {
  // The handlers capture a copy of `site`: two borrowed pointers.
  auto bind = [site](HttpResponse (*page)(const Site&, const HttpRequest&)) {
    return [site, page](const HttpRequest& request) { return page(site, request); };
  };
  // JSON cannot carry bytes that are not UTF-8: such requests get a 400.
  auto api = [site](HttpResponse (*endpoint)(const Site&, const HttpRequest&)) {
    return [site, endpoint](const HttpRequest& request) {
      std::optional<HttpResponse> rejected = ApiRejectNotUtf8(request);
      return rejected ? *std::move(rejected) : endpoint(site, request);
    };
  };
  routes.Get("/", bind(&LeaderboardPage))
      .GetPrefix("/gpu/", bind(&GpuPage))
      .GetPrefix("/result/", bind(&ResultPage))
      .Get("/predict", bind(&PredictPage))
      .Get("/api/v1", api(&ApiIndex))
      .Get("/api/v1/leaderboard", api(&ApiLeaderboard))
      .GetPrefix("/api/v1/results/", api(&ApiResult))
      .Get("/api/v1/gpus", api(&ApiGpus))
      .Get("/api/v1/predict", api(&ApiPredict));
}

}  // namespace aiscore::collector::web
