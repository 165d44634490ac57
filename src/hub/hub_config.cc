#include "hub/hub_config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace kiln::hub {
namespace {

std::string strip(const std::string& text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

// huggingface_hub treats an empty (after strip) token as no token.
std::optional<std::string> clean_token(const std::optional<std::string>& token) {
  if (!token) return std::nullopt;
  std::string cleaned = strip(*token);
  if (cleaned.empty()) return std::nullopt;
  return cleaned;
}

std::optional<std::string> non_empty(const EnvLookup& env, const std::string& name) {
  std::optional<std::string> value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

bool is_true(const std::optional<std::string>& value) {
  if (!value) return false;
  std::string upper = *value;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

std::string expand_home(const std::string& path, const std::optional<std::string>& home) {
  if (!home || path.empty() || path[0] != '~') return path;
  if (path.size() == 1 || path[1] == '/') return *home + path.substr(1);
  return path;
}

}  // namespace

Result<HubConfig> make_hub_config(const EnvLookup& env, const HubConfigOverrides& overrides) {
  HubConfig config;
  const std::optional<std::string> home = non_empty(env, "HOME");

  if (std::optional<std::string> endpoint = non_empty(env, "HF_ENDPOINT")) {
    std::string value = *endpoint;
    while (!value.empty() && value.back() == '/') value.pop_back();
    if (!value.empty()) config.endpoint = value;
  }

  std::string hf_home;
  if (std::optional<std::string> value = non_empty(env, "HF_HOME")) {
    hf_home = expand_home(*value, home);
  } else if (std::optional<std::string> xdg = non_empty(env, "XDG_CACHE_HOME")) {
    hf_home = expand_home(*xdg, home) + "/huggingface";
  } else if (home) {
    hf_home = *home + "/.cache/huggingface";
  }

  if (overrides.cache_dir && !overrides.cache_dir->empty()) {
    config.cache_dir = expand_home(*overrides.cache_dir, home);
  } else if (std::optional<std::string> value = non_empty(env, "HF_HUB_CACHE")) {
    config.cache_dir = expand_home(*value, home);
  } else if (std::optional<std::string> legacy = non_empty(env, "HUGGINGFACE_HUB_CACHE")) {
    config.cache_dir = expand_home(*legacy, home);
  } else if (!hf_home.empty()) {
    config.cache_dir = hf_home + "/hub";
  } else {
    return Status::error(
        "cannot find the Hugging Face cache: set HF_HOME or HF_HUB_CACHE (HOME is not set), or "
        "pass --cache-dir");
  }

  if (overrides.token) {
    config.token = clean_token(overrides.token);
  } else if (std::optional<std::string> token = clean_token(env("HF_TOKEN"))) {
    config.token = token;
  } else if (std::optional<std::string> legacy = clean_token(env("HUGGING_FACE_HUB_TOKEN"))) {
    config.token = legacy;
  } else {
    std::string token_path;
    if (std::optional<std::string> value = non_empty(env, "HF_TOKEN_PATH")) {
      token_path = expand_home(*value, home);
    } else if (!hf_home.empty()) {
      token_path = hf_home + "/token";
    }
    if (!token_path.empty()) {
      std::ifstream file(token_path);
      if (file) {
        std::stringstream contents;
        contents << file.rdbuf();
        config.token = clean_token(contents.str());
      }
    }
  }

  std::optional<std::string> offline = env("HF_HUB_OFFLINE");
  if (!offline || offline->empty()) offline = env("TRANSFORMERS_OFFLINE");
  config.offline = is_true(offline);
  return config;
}

Status apply_hub_timeouts(const EnvLookup& env, PullOptions* options) {
  const auto read = [&](const std::string& name, int64_t* target) -> Status {
    const std::optional<std::string> value = non_empty(env, name);
    if (!value) return ok_status();
    const std::string text = strip(*value);
    int64_t seconds = 0;
    for (char c : text) {
      if (c < '0' || c > '9' || seconds > 1000000) {
        return Status::error(name + "='" + *value + "' is not a whole number of seconds");
      }
      seconds = seconds * 10 + (c - '0');
    }
    if (text.empty() || seconds <= 0) {
      return Status::error(name + "='" + *value + "' must be a positive number of seconds");
    }
    *target = seconds;
    return ok_status();
  };
  KILN_RETURN_IF_ERROR(read("HF_HUB_DOWNLOAD_TIMEOUT", &options->stall_timeout_s));
  KILN_RETURN_IF_ERROR(read("HF_HUB_ETAG_TIMEOUT", &options->connect_timeout_s));
  return ok_status();
}

}  // namespace kiln::hub
