// The progress bar of <mp/progress.hpp>.
#include "mp/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace mp::detail {
namespace {
std::string clock_text(double seconds) {
    auto s = static_cast<long>(seconds + 0.5);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}
}  // namespace

ProgressBar::ProgressBar(std::string label, std::optional<std::size_t> total)
    : label_(std::move(label)),
      total_(total),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
    if (tty_) draw(false);
}

ProgressBar::~ProgressBar() {
    finish();
}

void ProgressBar::tick() {
    ++count_;
    if (!tty_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ >= std::chrono::milliseconds(100)) draw(false);
}

void ProgressBar::finish() {
    if (finished_) return;
    finished_ = true;
    if (tty_) draw(true);
}

void ProgressBar::draw(bool last) {
    auto now = std::chrono::steady_clock::now();
    last_draw_ = now;
    double elapsed = std::chrono::duration<double>(now - start_).count();
    double rate = elapsed > 0 ? static_cast<double>(count_) / elapsed : 0.0;
    std::string line = label_.empty() ? std::string() : label_ + ": ";
    char buf[160];
    if (total_ && *total_ > 0) {
        double frac = static_cast<double>(count_) / static_cast<double>(*total_);
        if (frac > 1) frac = 1;
        constexpr int kWidth = 30;
        int filled = static_cast<int>(frac * kWidth);
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.resize(kWidth, '.');
        double left =
            rate > 0 ? static_cast<double>(*total_ - std::min(count_, *total_)) / rate : 0;
        std::snprintf(buf, sizeof buf, "[%s] %3d%% %zu/%zu  %.1f/s  %s left", bar.c_str(),
                      static_cast<int>(frac * 100), count_, *total_, rate,
                      clock_text(left).c_str());
    } else {
        std::snprintf(buf, sizeof buf, "%zu done  %.1f/s  %s elapsed", count_, rate,
                      clock_text(elapsed).c_str());
    }
    line += buf;
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), last ? "\n" : "");
    std::fflush(stderr);
}

}  // namespace mp::detail
