#include "base/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "base/clock.h"

namespace kiln {
namespace {

std::string format_amount(double value, ProgressUnit unit) {
  char buffer[32];
  if (unit == ProgressUnit::kBytes) {
    if (value >= 1e9) std::snprintf(buffer, sizeof(buffer), "%.1f GB", value / 1e9);
    else if (value >= 1e6) std::snprintf(buffer, sizeof(buffer), "%.1f MB", value / 1e6);
    else std::snprintf(buffer, sizeof(buffer), "%.1f kB", value / 1e3);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
  }
  return buffer;
}

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds > 359999) return "--:--";
  const int total = static_cast<int>(seconds);
  char buffer[32];
  if (total >= 3600) std::snprintf(buffer, sizeof(buffer), "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60);
  else std::snprintf(buffer, sizeof(buffer), "%02d:%02d", total / 60, total % 60);
  return buffer;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, ProgressUnit unit)
    : label_(std::move(label)),
      total_(total),
      unit_(unit),
      start_s_(monotonic_seconds()),
      is_tty_(isatty(STDERR_FILENO) != 0) {}

ProgressBar::ProgressBar(std::string label, int64_t total, ProgressUnit unit, bool draws_itself)
    : ProgressBar(std::move(label), total, unit) {
  draws_itself_ = draws_itself;
}

ProgressBar::~ProgressBar() { finish(); }

std::string ProgressBar::render() {
  std::lock_guard<std::mutex> lock(mutex_);
  return render_locked();
}

void ProgressBar::advance(int64_t amount) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += amount;
  draw_locked(false);
}

void ProgressBar::set(int64_t done) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = done;
  draw_locked(false);
}

void ProgressBar::set_total(int64_t total) {
  std::lock_guard<std::mutex> lock(mutex_);
  total_ = total;
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  draw_locked(true);
  if (is_tty_ && draws_itself_) std::fputc('\n', stderr);
  finished_ = true;
}

std::string ProgressBar::render_locked() const {
  const double elapsed = monotonic_seconds() - start_s_;
  const double fraction = total_ > 0 ? std::clamp(static_cast<double>(done_) / total_, 0.0, 1.0) : 0;
  const double rate = elapsed > 0 ? done_ / elapsed : 0;
  const double eta = rate > 0 ? (total_ - done_) / rate : -1;
  constexpr int kWidth = 24;
  std::string bar;
  const int filled = static_cast<int>(fraction * kWidth);
  for (int i = 0; i < kWidth; ++i) bar += i < filled ? "\u2588" : " ";
  char head[64];
  std::snprintf(head, sizeof(head), "%3d%%", static_cast<int>(fraction * 100));
  std::string rate_text = format_amount(rate, unit_) + (unit_ == ProgressUnit::kBytes ? "/s" : " it/s");
  return label_ + " " + head + " |" + bar + "| " + format_amount(done_, unit_) + "/" +
         format_amount(total_, unit_) + " [" + format_duration(elapsed) + "<" +
         format_duration(eta) + ", " + rate_text + "]";
}

void ProgressBar::draw_locked(bool force) {
  if (finished_ || !draws_itself_) return;
  const double now = monotonic_seconds();
  if (is_tty_) {
    if (!force && now - last_draw_s_ < 0.1) return;
    last_draw_s_ = now;
    const std::string line = "\r" + render_locked() + "\x1b[K";
    std::fwrite(line.data(), 1, line.size(), stderr);
  } else {
    const int decile = total_ > 0 ? static_cast<int>(10 * done_ / std::max<int64_t>(total_, 1)) : 0;
    // A line per decile; finishing prints nothing new when the last line already showed it.
    if (decile == last_decile_) return;
    last_decile_ = decile;
    const std::string line = render_locked() + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  std::fflush(stderr);
}

}  // namespace kiln
