#include "collector/http/http_routes.h"

namespace aiscore::collector {
namespace {

// Records a registration error for `path`, or adds it to `table`.
void Add(std::map<std::string, HttpHandler, std::less<>>& table, std::string_view kind,
         std::string path, HttpHandler handler, std::vector<std::string>& errors) {
  const std::string what = std::string(kind) + " \"" + path + "\"";
  if (!path.starts_with('/')) {
    errors.push_back(what + " does not start with '/'");
  } else if (!handler) {
    errors.push_back(what + " has no handler");
  } else if (!table.emplace(path, std::move(handler)).second) {
    errors.push_back(what + " is registered twice");
  }
}

}  // namespace

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpRoutes& HttpRoutes::Get(std::string path, HttpHandler handler) {
  Add(exact_, "route", std::move(path), std::move(handler), errors_);
  return *this;
}

HttpRoutes& HttpRoutes::GetPrefix(std::string prefix, HttpHandler handler) {
  Add(prefixes_, "prefix route", std::move(prefix), std::move(handler), errors_);
  return *this;
}

absl::Status HttpRoutes::Validate() const {
  if (errors_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError("bad HTTP route: " + errors_.front());
}

const HttpHandler* HttpRoutes::Find(std::string_view path) const {
  if (const auto it = exact_.find(path); it != exact_.end()) return &it->second;
  // A scan: prefix tables hold a handful of pages.
  const HttpHandler* best = nullptr;
  size_t best_length = 0;
  for (const auto& [prefix, handler] : prefixes_) {
    if (path.size() > prefix.size() && path.starts_with(prefix) && prefix.size() > best_length) {
      best = &handler;
      best_length = prefix.size();
    }
  }
  return best;
}

}  // namespace aiscore::collector
