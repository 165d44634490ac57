// The API's routes as rows: method, exact path, whether the Bearer key and a loaded model are
// required, and the handler. OpenAiService::handle looks a request up here once, then applies
// the row's checks and calls its handler; 404 and 405 (with Allow) come from the same table.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/http_types.h"

namespace kiln::server {

using RouteHandler = std::function<void(HttpRequest request, std::shared_ptr<ResponseWriter> writer)>;

struct Route {
  std::string method;  // a GET route answers HEAD too
  std::string path;    // matched exactly (the query string is not part of it)
  bool needs_auth = false;   // the --api-key Bearer key, when one is set
  bool needs_ready = false;  // 503 while the model loads or the server drains
  RouteHandler handler;
};

class RouteTable {
 public:
  explicit RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {}

  struct Match {
    const Route* route = nullptr;  // null: 404 (path_known false) or 405
    bool path_known = false;
    std::string allow;  // for 405: the methods the path takes, comma-separated
  };
  Match match(const std::string& method, const std::string& path) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace kiln::server
