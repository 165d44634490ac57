// What a user sees while `kiln pull` runs: on a terminal, one live bar per file being
// downloaded plus an overall bar (bytes, speed, ETA), redrawn in place; a finished file leaves
// one line above them. In logs (stderr not a terminal), one line per finished file and the
// overall bar every 10%. Thread-safe: the download workers report into it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/progress_bar.h"

namespace kiln::hub {

class DownloadProgress {
 public:
  DownloadProgress(int64_t total_bytes, bool enabled);
  ~DownloadProgress();
  DownloadProgress(const DownloadProgress&) = delete;
  DownloadProgress& operator=(const DownloadProgress&) = delete;

  // `total_bytes` still to fetch for the file (its size less what a partial download holds).
  int start_file(const std::string& name, int64_t total_bytes);
  // May be negative when a download restarts from zero (the server ignored the Range).
  void advance(int file_id, int64_t bytes);
  void finish_file(int file_id, bool ok);
  void finish();

 private:
  void redraw_locked(bool force);
  void clear_block_locked();

  std::mutex mutex_;
  bool enabled_;
  bool is_tty_;
  std::unique_ptr<ProgressBar> overall_;
  std::map<int, std::unique_ptr<ProgressBar>> files_;
  std::map<int, std::string> names_;
  int next_id_ = 0;
  int drawn_lines_ = 0;
  double last_draw_s_ = 0;
  bool finished_ = false;
};

}  // namespace kiln::hub
