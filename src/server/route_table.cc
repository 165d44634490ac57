#include "server/route_table.h"

namespace kiln::server {

RouteTable::Match RouteTable::match(const std::string& method, const std::string& path) const {
  Match match;
  for (const Route& route : routes_) {
    if (route.path != path) continue;
    match.path_known = true;
    if (method == route.method || (method == "HEAD" && route.method == "GET")) {
      match.route = &route;
      match.allow.clear();
      return match;
    }
    match.allow += (match.allow.empty() ? "" : ", ") + route.method;
  }
  return match;
}

}  // namespace kiln::server
