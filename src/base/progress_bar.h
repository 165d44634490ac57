// A terminal progress bar for long work (loading weights, downloads, benchmarks):
//   Loading weights  63% |███████████▍      | 10.1/16.1 GB [00:04<00:02, 2.41 GB/s]
// Redrawn in place on a terminal at most 10 times a second; when stderr is not a terminal
// (logs in Kubernetes) it prints a plain line at every 10% instead. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace kiln {

enum class ProgressUnit { kCount, kBytes };

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, ProgressUnit unit = ProgressUnit::kCount);
  // draws_itself = false: the bar never writes to stderr; a display showing several bars at
  // once (parallel downloads) prints render() lines itself.
  ProgressBar(std::string label, int64_t total, ProgressUnit unit, bool draws_itself);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void advance(int64_t amount);
  void set(int64_t done);
  void set_total(int64_t total);
  // Draws the final state and ends the line. Called by the destructor if not before.
  void finish();
  // The bar's current line, without a newline.
  std::string render();

 private:
  void draw_locked(bool force);
  std::string render_locked() const;

  std::mutex mutex_;
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  ProgressUnit unit_;
  double start_s_;
  double last_draw_s_ = 0;
  int last_decile_ = -1;
  bool is_tty_;
  bool finished_ = false;
  bool draws_itself_ = true;
};

}  // namespace kiln
