#include "cli/flag_parser.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "base/byte_size.h"
#include "base/check.h"

namespace kiln::cli {
namespace {

std::string format_double(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

Result<int64_t> parse_integer(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) {
    return Status::error("--" + flag + " expects an integer, got '" + text + "'");
  }
  return static_cast<int64_t>(value);
}

Result<double> parse_number(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value)) {
    return Status::error("--" + flag + " expects a number, got '" + text + "'");
  }
  return value;
}

Status parse_bool(const std::string& flag, const std::string& text, bool* target) {
  if (text == "true" || text == "1" || text == "on") *target = true;
  else if (text == "false" || text == "0" || text == "off") *target = false;
  else return Status::error("--" + flag + " expects true or false, got '" + text + "'");
  return ok_status();
}

}  // namespace

FlagParser::FlagParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void FlagParser::add(Flag flag) { flags_.push_back(std::move(flag)); }

void FlagParser::add_string(const std::string& name, std::string* target, const std::string& help) {
  add({name, help, target->empty() ? "" : *target, false, [target](const std::string& v) {
         *target = v;
         return ok_status();
       }});
}

void FlagParser::add_optional_string(const std::string& name, std::optional<std::string>* target,
                                     const std::string& help) {
  add({name, help, target->value_or(""), false, [target](const std::string& v) {
         *target = v;
         return ok_status();
       }});
}

void FlagParser::add_int(const std::string& name, int* target, const std::string& help) {
  add({name, help, std::to_string(*target), false, [name, target](const std::string& v) -> Status {
         auto value = parse_integer(name, v);
         if (!value.ok()) return value.status();
         if (*value < INT32_MIN || *value > INT32_MAX) return Status::error("--" + name + " is out of range: " + v);
         *target = static_cast<int>(*value);
         return ok_status();
       }});
}

void FlagParser::add_int64(const std::string& name, int64_t* target, const std::string& help) {
  add({name, help, std::to_string(*target), false, [name, target](const std::string& v) -> Status {
         auto value = parse_integer(name, v);
         if (!value.ok()) return value.status();
         *target = *value;
         return ok_status();
       }});
}

void FlagParser::add_optional_int(const std::string& name, std::optional<int>* target,
                                  const std::string& help) {
  add({name, help, *target ? std::to_string(**target) : "", false,
       [name, target](const std::string& v) -> Status {
         auto value = parse_integer(name, v);
         if (!value.ok()) return value.status();
         if (*value < INT32_MIN || *value > INT32_MAX) return Status::error("--" + name + " is out of range: " + v);
         *target = static_cast<int>(*value);
         return ok_status();
       }});
}

void FlagParser::add_double(const std::string& name, double* target, const std::string& help) {
  add({name, help, format_double(*target), false, [name, target](const std::string& v) -> Status {
         auto value = parse_number(name, v);
         if (!value.ok()) return value.status();
         *target = *value;
         return ok_status();
       }});
}

void FlagParser::add_optional_double(const std::string& name, std::optional<double>* target,
                                     const std::string& help) {
  add({name, help, *target ? format_double(**target) : "", false,
       [name, target](const std::string& v) -> Status {
         auto value = parse_number(name, v);
         if (!value.ok()) return value.status();
         *target = *value;
         return ok_status();
       }});
}

void FlagParser::add_byte_size(const std::string& name, std::optional<int64_t>* target, const std::string& help) {
  add({name, help, *target ? format_bytes(**target) : "", false, [name, target](const std::string& v) -> Status {
         auto bytes = parse_byte_size(v);
         if (!bytes.ok()) return Status::error("--" + name + ": " + bytes.message());
         *target = *bytes;
         return ok_status();
       }});
}

void FlagParser::add_custom(const std::string& name, const std::string& default_text, const std::string& help,
                            std::function<Status(const std::string&)> set) {
  add({name, help, default_text, false, std::move(set)});
}

void FlagParser::set_help(const std::string& name, const std::string& help, std::optional<std::string> default_text) {
  for (Flag& flag : flags_) {
    if (flag.name == name) {
      flag.help = help;
      if (default_text) flag.default_text = *default_text;
      return;
    }
  }
  KILN_CHECK(false) << "set_help: no flag --" << name;
}

void FlagParser::add_bool(const std::string& name, bool* target, const std::string& help) {
  add({name, help, *target ? "on" : "off", true,
       [name, target](const std::string& v) { return parse_bool(name, v, target); }});
}

void FlagParser::add_optional_bool(const std::string& name, std::optional<bool>* target, const std::string& help,
                                   const std::string& default_text) {
  add({name, help, default_text, true, [name, target](const std::string& v) -> Status {
         bool value = false;
         KILN_RETURN_IF_ERROR(parse_bool(name, v, &value));
         *target = value;
         return ok_status();
       }});
}

void FlagParser::add_repeated(const std::string& name, std::vector<std::string>* target,
                              const std::string& help) {
  add({name, help, "", false, [target](const std::string& v) {
         target->push_back(v);
         return ok_status();
       }});
}

void FlagParser::allow_positionals(std::vector<std::string>* target, const std::string& usage) {
  positionals_ = target;
  positional_usage_ = usage;
}

const FlagParser::Flag* FlagParser::find(const std::string& name) const {
  for (const Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

bool FlagParser::was_set(const std::string& name) const {
  return std::find(set_names_.begin(), set_names_.end(), name) != set_names_.end();
}

Status FlagParser::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return ok_status();
    }
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      if (!positionals_) {
        return Status::error("unexpected argument '" + arg + "' (see kiln " + command_ + " --help)");
      }
      positionals_->push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    // vLLM accepts --max_model_len as well as --max-model-len.
    std::replace(name.begin(), name.end(), '_', '-');
    const Flag* flag = find(name);
    if (!flag && name.rfind("no-", 0) == 0) {
      const Flag* positive = find(name.substr(3));
      if (positive && positive->is_bool && !value) {
        KILN_RETURN_IF_ERROR(positive->set("false"));
        set_names_.push_back(positive->name);
        continue;
      }
    }
    if (!flag) {
      return Status::error("unknown flag --" + name + " (see kiln " + command_ + " --help)");
    }
    if (!value) {
      if (flag->is_bool) {
        value = "true";
      } else {
        if (i + 1 >= args.size()) return Status::error("--" + name + " needs a value");
        value = args[++i];
      }
    }
    KILN_RETURN_IF_ERROR(flag->set(*value));
    set_names_.push_back(flag->name);
  }
  return ok_status();
}

std::string FlagParser::help_text() const {
  std::ostringstream out;
  out << "usage: kiln " << command_ << (positional_usage_.empty() ? "" : " " + positional_usage_)
      << " [flags]\n\n"
      << summary_ << "\n\nflags:\n";
  for (const Flag& flag : flags_) {
    std::string left = "  --" + flag.name + (flag.is_bool ? "" : " VALUE");
    if (left.size() < 34) left.resize(34, ' ');
    else left += "\n" + std::string(34, ' ');
    out << left << flag.help;
    if (!flag.default_text.empty()) out << " (default: " << flag.default_text << ")";
    out << "\n";
  }
  return out.str();
}

}  // namespace kiln::cli
