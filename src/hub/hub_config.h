// Where and how kiln talks to the Hugging Face Hub. Built once by the CLI from the environment
// (the only layer that reads it) with the precedence huggingface_hub uses, then passed down.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/env_lookup.h"
#include "base/status.h"

namespace kiln::hub {

struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::optional<std::string> token;                   // never logged
  std::string cache_dir;                              // the hub cache: models--org--name live here
  bool offline = false;                               // resolve from the cache only
};

// Flags that override the environment (kiln pull --token / --cache-dir).
struct HubConfigOverrides {
  std::optional<std::string> token;
  std::optional<std::string> cache_dir;
};

// Looks a variable up; nullopt when unset. The CLI passes one backed by getenv.

// Builds the config as huggingface_hub's constants.py and _auth.py do:
//   endpoint  = $HF_ENDPOINT (trailing '/' removed), else https://huggingface.co
//   HF_HOME   = $HF_HOME, else $XDG_CACHE_HOME/huggingface, else $HOME/.cache/huggingface
//   cache_dir = --cache-dir, else $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub
//   token     = --token, else $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the file
//               $HF_TOKEN_PATH (default $HF_HOME/token); values are stripped, empty means unset
//   offline   = $HF_HUB_OFFLINE (or $TRANSFORMERS_OFFLINE) in {1, ON, YES, TRUE}, any case
// A leading '~' in paths is expanded with $HOME. Errors only when no cache dir can be derived.
Result<HubConfig> make_hub_config(const EnvLookup& env, const HubConfigOverrides& overrides);

// What to fetch and how patiently.
struct PullOptions {
  std::string revision = "main";
  // Extra fnmatch globs on repo paths, added to the default selection (see file_selection.h).
  std::vector<std::string> include_patterns;
  int max_parallel_files = 4;
  int max_attempts = 5;                // per request, counting the first
  int64_t initial_backoff_ms = 500;    // doubled after each failed attempt
  int64_t max_backoff_ms = 8000;
  int64_t connect_timeout_s = 10;
  int64_t stall_timeout_s = 10;        // no data for this long: dropped and resumed (HF: 10 s)
  bool show_progress = true;
  // Free bytes at a path; tests inject one to exercise the disk-full check. Default: statvfs.
  std::function<Result<int64_t>(const std::string& path)> free_space;
};

// Reads the timeouts huggingface_hub reads: HF_HUB_DOWNLOAD_TIMEOUT (seconds a download may go
// without data: options->stall_timeout_s) and HF_HUB_ETAG_TIMEOUT (options->connect_timeout_s).
// Errors name the variable when a value is not a positive integer.
Status apply_hub_timeouts(const EnvLookup& env, PullOptions* options);

}  // namespace kiln::hub
