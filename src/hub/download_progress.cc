#include "hub/download_progress.h"

#include <unistd.h>

#include <cstdio>

#include "base/byte_size.h"
#include "base/clock.h"

namespace kiln::hub {
namespace {

std::string short_name(const std::string& name) {
  constexpr size_t kMax = 36;
  if (name.size() <= kMax) return name + std::string(kMax - name.size(), ' ');
  return "..." + name.substr(name.size() - (kMax - 3));
}

void write_stderr(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

DownloadProgress::DownloadProgress(int64_t total_bytes, bool enabled)
    : enabled_(enabled), is_tty_(isatty(STDERR_FILENO) != 0) {
  if (!enabled_) return;
  // In logs the overall bar prints its own line every 10%; on a terminal this class draws it.
  overall_ = std::make_unique<ProgressBar>(short_name("Total"), total_bytes, ProgressUnit::kBytes,
                                           /*draws_itself=*/!is_tty_);
}

DownloadProgress::~DownloadProgress() { finish(); }

int DownloadProgress::start_file(const std::string& name, int64_t total_bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int id = next_id_++;
  if (!enabled_) return id;
  names_[id] = name;
  files_[id] = std::make_unique<ProgressBar>(short_name(name), total_bytes, ProgressUnit::kBytes,
                                             /*draws_itself=*/false);
  redraw_locked(true);
  return id;
}

void DownloadProgress::advance(int file_id, int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!enabled_) return;
  auto it = files_.find(file_id);
  if (it != files_.end()) it->second->advance(bytes);
  overall_->advance(bytes);
  redraw_locked(false);
}

void DownloadProgress::finish_file(int file_id, bool ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!enabled_) return;
  auto it = files_.find(file_id);
  if (it == files_.end()) return;
  const std::string line = it->second->render();
  files_.erase(it);
  names_.erase(file_id);
  if (is_tty_) {
    clear_block_locked();
    write_stderr(line + (ok ? "\n" : "  (failed)\n"));
    redraw_locked(true);
  } else if (ok) {
    write_stderr("Downloaded " + line + "\n");
  }
}

void DownloadProgress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!enabled_ || finished_) return;
  finished_ = true;
  if (is_tty_) {
    clear_block_locked();
    write_stderr(overall_->render() + "\n");
  } else {
    overall_->finish();
  }
}

void DownloadProgress::clear_block_locked() {
  if (drawn_lines_ > 0) write_stderr("\x1b[" + std::to_string(drawn_lines_) + "F\x1b[J");
  drawn_lines_ = 0;
}

void DownloadProgress::redraw_locked(bool force) {
  if (!is_tty_ || finished_) return;
  const double now = monotonic_seconds();
  if (!force && now - last_draw_s_ < 0.1) return;
  last_draw_s_ = now;
  std::string block;
  if (drawn_lines_ > 0) block += "\x1b[" + std::to_string(drawn_lines_) + "F";
  int lines = 0;
  for (auto& [id, bar] : files_) {
    block += bar->render() + "\x1b[K\n";
    ++lines;
  }
  block += overall_->render() + "\x1b[K\n\x1b[J";
  ++lines;
  drawn_lines_ = lines;
  write_stderr(block);
}

}  // namespace kiln::hub
