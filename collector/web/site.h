// The collector's web site: HTML pages and the JSON API, served by the
// collector's HttpServer (collector/http) next to /healthz and /metrics.
//
//   /                 leaderboard of a suite, one row per (GPU, backend):
//                     filters (name, backend, format), sorting, pages
//   /gpu/NAME         one GPU: score histogram, decode and prefill per format
//                     against the reference device and the prediction,
//                     memory fit per model and format, recent results
//   /result/ID        one result: every case and measurement with its raw
//                     samples, hardware, build, self-checks, flags, signer
//   /predict          the prediction form and its answer with the error bar
//   /api/v1/...       JSON of the gRPC answers (docs/api.md)
//
// Every page is built on the server from the same in-process reads the gRPC
// service answers with (CollectorService::Read*), plus the store's per-group
// reads for the GPU page; every value from a submission is escaped (html.h);
// pages carry no script and load nothing from elsewhere (charts are inline
// SVG, svg_chart.h), so they work offline and under a strict
// Content-Security-Policy.
//
// Thread-safety: the handlers may run on any number of the HTTP server's
// workers at once. Ownership: Site borrows the service and the store, which
// must outlive the server serving its routes.
#ifndef AISCORE_COLLECTOR_WEB_SITE_H_
#define AISCORE_COLLECTOR_WEB_SITE_H_

#include "collector/http/http_routes.h"
#include "collector/service/collector_service.h"
#include "collector/store/result_store.h"

namespace aiscore::collector::web {

// The suite pages show when the request names none.
inline constexpr char kDefaultSuite[] = "v1";
// Results the GPU page's per-format medians are taken over (the latest ones).
inline constexpr int kGpuPageCaseResults = 1000;
// Recent results the GPU page lists.
inline constexpr int kGpuPageRecentResults = 20;

struct Site {
  CollectorService* service = nullptr;  // borrowed: the read RPCs
  ResultStore* store = nullptr;         // borrowed: the GPU page's group reads
};

// The HTTP status of a read's failure: 400 for INVALID_ARGUMENT, 404
// NOT_FOUND, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, else 500.
int HttpStatusOf(grpc::StatusCode code);

// The pages (pages.h) and the JSON API (json_api.h) of `site`, added to `routes`.
void AddSiteRoutes(const Site& site, HttpRoutes& routes);

}  // namespace aiscore::collector::web

#endif  // AISCORE_COLLECTOR_WEB_SITE_H_
