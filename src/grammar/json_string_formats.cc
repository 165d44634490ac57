#include "grammar/json_string_formats.h"

namespace kiln::grammar {
namespace {

// Years 0001-9999; days that exist in their month; 29 February in leap years only.
constexpr const char* kYear = R"((?:\d{3}[1-9]|\d{2}[1-9]\d|\d[1-9]\d{2}|[1-9]\d{3}))";
constexpr const char* kLeapYear = R"((?:\d{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00))";
constexpr const char* kMonthDay =
    R"((?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8])))";
constexpr const char* kTime = R"((?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d))";
constexpr const char* kHex = "[0-9a-fA-F]";
constexpr const char* kLabel = "[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?";
constexpr const char* kOctet = R"((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))";

std::string date() { return std::string("(?:") + kYear + "-" + kMonthDay + "|" + kLeapYear + "-02-29)"; }

}  // namespace

std::optional<std::string> string_format_regex(std::string_view format) {
  const std::string hex = kHex;
  if (format == "date") return date();
  if (format == "time") return std::string(kTime);
  if (format == "date-time") return date() + "T" + kTime;
  if (format == "uuid") {
    return hex + "{8}-" + hex + "{4}-" + hex + "{4}-" + hex + "{4}-" + hex + "{12}";
  }
  if (format == "email") {
    const std::string atom = "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+";
    return atom + "(?:\\." + atom + ")*@" + kLabel + "(?:\\." + kLabel + "){1,3}";
  }
  if (format == "ipv4") return std::string(kOctet) + "(?:\\." + kOctet + "){3}";
  if (format == "ipv6") return "(?:" + hex + "{1,4}:){7}" + hex + "{1,4}";
  // At most three labels: validators also bound the whole name (253 bytes).
  if (format == "hostname") return std::string(kLabel) + "(?:\\." + kLabel + "){0,2}";
  if (format == "uri") {
    return std::string("https?://") + kLabel + "(?:\\." + kLabel + "){0,2}(?:/[a-zA-Z0-9._~!$&'()*+,;=:@-]*)*";
  }
  return std::nullopt;
}

}  // namespace kiln::grammar
