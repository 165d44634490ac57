#include "metrics/registry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "base/check.h"

namespace kiln::metrics {
namespace {

// Python's repr(float): the shortest digits that read back the same, fixed notation for
// exponents in [-4, 16), else d.ddde+XX.
std::string python_float_repr(double value) {
  char buffer[64];
  int precision = 1;
  for (; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*e", precision - 1, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  std::string text = buffer;  // "-d.ddde+XX"
  const bool negative = text[0] == '-';
  if (negative) text = text.substr(1);
  const size_t e = text.find('e');
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (text[i] != '.') digits += text[i];
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out = digits + std::string(static_cast<size_t>(exponent + 1) - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exponent + 1)) + "." +
            digits.substr(static_cast<size_t>(exponent + 1));
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_text[16];
    std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp_text;
  }
  return negative ? "-" + out : out;
}

std::string escape_help(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string label_text(const std::vector<std::string>& names, const LabelValues& values,
                       const std::string& extra_name = "", const std::string& extra_value = "") {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ",";
    out += names[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ",";
    out += extra_name + "=\"" + extra_value + "\"";
  }
  return out + "}";
}

}  // namespace

std::string format_prometheus_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::string s = python_float_repr(value);
  // prometheus_client's floatToGoString: Go switches to exponents sooner than Python.
  const size_t dot = s.find('.');
  if (value > 0 && dot != std::string::npos && dot > 6 && s.find('e') == std::string::npos) {
    std::string mantissa = s.substr(0, 1) + "." + s.substr(1, dot - 1) + s.substr(dot + 1);
    while (!mantissa.empty() && (mantissa.back() == '0' || mantissa.back() == '.')) mantissa.pop_back();
    return mantissa + "e+0" + std::to_string(dot - 1);
  }
  return s;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

void Registry::add_family(Family family) {
  std::lock_guard lock(mutex_);
  for (const auto& existing : families_) KILN_CHECK(existing->name != family.name) << family.name;
  families_.push_back(std::make_unique<Family>(std::move(family)));
}

void Registry::add_counter(const std::string& name, const std::string& help,
                           std::vector<std::string> label_names) {
  add_family({name, help, MetricType::kCounter, std::move(label_names), {}, {}, {}, {}, {}});
}

void Registry::add_gauge(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names) {
  add_family({name, help, MetricType::kGauge, std::move(label_names), {}, {}, {}, {}, {}});
}

void Registry::add_histogram(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names, std::vector<double> upper_bounds) {
  add_family({name, help, MetricType::kHistogram, std::move(label_names), std::move(upper_bounds), {},
              {}, {}, {}});
}

Registry::Family* Registry::find(const std::string& name, MetricType type, size_t num_labels) {
  for (const auto& family : families_) {
    if (family->name == name) {
      KILN_CHECK(family->type == type) << name << " has another type";
      KILN_CHECK_EQ(family->label_names.size(), num_labels) << name;
      return family.get();
    }
  }
  KILN_CHECK(false) << "unknown metric " << name;
  return nullptr;
}

Counter* Registry::counter(const std::string& name, const LabelValues& labels) {
  std::lock_guard lock(mutex_);
  Family* family = find(name, MetricType::kCounter, labels.size());
  auto& slot = family->counters[labels];
  if (!slot) {
    slot = std::make_unique<Counter>();
    family->order.push_back(labels);
  }
  return slot.get();
}

Gauge* Registry::gauge(const std::string& name, const LabelValues& labels) {
  std::lock_guard lock(mutex_);
  Family* family = find(name, MetricType::kGauge, labels.size());
  auto& slot = family->gauges[labels];
  if (!slot) {
    slot = std::make_unique<Gauge>();
    family->order.push_back(labels);
  }
  return slot.get();
}

Histogram* Registry::histogram(const std::string& name, const LabelValues& labels) {
  std::lock_guard lock(mutex_);
  Family* family = find(name, MetricType::kHistogram, labels.size());
  auto& slot = family->histograms[labels];
  if (!slot) {
    slot = std::make_unique<Histogram>(family->upper_bounds);
    family->order.push_back(labels);
  }
  return slot.get();
}

void Registry::add_collect_hook(std::function<void()> hook) {
  std::lock_guard lock(mutex_);
  hooks_.push_back(std::move(hook));
}

std::string Registry::expose() const {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(mutex_);
    hooks = hooks_;
  }
  for (const auto& hook : hooks) hook();

  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& family_ptr : families_) {
    const Family& family = *family_ptr;
    const std::string name = family.type == MetricType::kCounter ? family.name + "_total" : family.name;
    const char* type = family.type == MetricType::kCounter ? "counter"
                       : family.type == MetricType::kGauge ? "gauge"
                                                           : "histogram";
    out += "# HELP " + name + " " + escape_help(family.help) + "\n";
    out += "# TYPE " + name + " " + type + "\n";
    for (const LabelValues& labels : family.order) {
      if (family.type == MetricType::kCounter) {
        out += name + label_text(family.label_names, labels) + " " +
               format_prometheus_value(family.counters.at(labels)->value()) + "\n";
      } else if (family.type == MetricType::kGauge) {
        out += name + label_text(family.label_names, labels) + " " +
               format_prometheus_value(family.gauges.at(labels)->value()) + "\n";
      } else {
        const Histogram::Snapshot snap = family.histograms.at(labels)->snapshot();
        for (size_t i = 0; i < snap.upper_bounds.size(); ++i) {
          out += name + "_bucket" +
                 label_text(family.label_names, labels, "le", format_prometheus_value(snap.upper_bounds[i])) +
                 " " + format_prometheus_value(static_cast<double>(snap.cumulative[i])) + "\n";
        }
        out += name + "_count" + label_text(family.label_names, labels) + " " +
               format_prometheus_value(static_cast<double>(snap.count)) + "\n";
        out += name + "_sum" + label_text(family.label_names, labels) + " " +
               format_prometheus_value(snap.sum) + "\n";
      }
    }
  }
  return out;
}

}  // namespace kiln::metrics
