// The HTML pages of the collector's web site (site.h), one handler per page,
// each in its own file. Each takes the request as the HTTP server decoded it
// and answers a complete page: 200, or an error page with 400 (a bad query
// parameter), 404 (no such GPU or result) or 500/503 (the store failed),
// saying what was wrong.
#ifndef AISCORE_COLLECTOR_WEB_PAGES_H_
#define AISCORE_COLLECTOR_WEB_PAGES_H_

#include "collector/http/http_routes.h"
#include "collector/web/site.h"

namespace aiscore::collector::web {

// GET /?suite=&name=&backend=&format=&sort=median|best|results|name&page=N
HttpResponse LeaderboardPage(const Site& site, const HttpRequest& request);
// GET /gpu/NAME?backend=&suite=
HttpResponse GpuPage(const Site& site, const HttpRequest& request);
// GET /result/ID
HttpResponse ResultPage(const Site& site, const HttpRequest& request);
// GET /predict?gpu=&model=&format=&context=
HttpResponse PredictPage(const Site& site, const HttpRequest& request);

}  // namespace aiscore::collector::web

#endif  // AISCORE_COLLECTOR_WEB_PAGES_H_
