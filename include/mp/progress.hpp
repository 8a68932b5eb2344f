// mp/progress.hpp — a progress bar over any range (no Python counterpart in
// multiprocessing; tqdm's role).
//
//     for (int r : mp::progress(pool.imap_unordered(f, items))) use(r);
//     for (auto& x : mp::progress(v, "loading")) …
//
// Draws one line on stderr, redrawn at most 10 times a second: the count (of the total
// when the range knows its size), the rate, and the time left (sized ranges). Only when
// stderr is a terminal: redirected to a file or a pipe, it prints nothing. An rvalue
// range is kept inside; an lvalue one is referred to (it must outlive the loop).
#pragma once

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <utility>

namespace mp {
namespace detail {

/// Draws the bar (src/progress.cpp). Does nothing if stderr is not a terminal.
class ProgressBar {
  public:
    ProgressBar(std::string label, std::optional<std::size_t> total);
    ~ProgressBar();
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;
    void tick();
    void finish();

  private:
    void draw(bool last);
    std::string label_;
    std::optional<std::size_t> total_;
    std::size_t count_ = 0;
    bool tty_ = false;
    bool finished_ = false;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace detail

/// What progress(range) returns: the same items, counted as they pass.
template <class View>
class Progress {
  public:
    Progress(View v, std::string label) : view_(std::move(v)), label_(std::move(label)) {}

    class iterator {
      public:
        using iterator_concept = std::input_iterator_tag;
        using value_type = std::ranges::range_value_t<View>;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        decltype(auto) operator*() const { return *it_; }
        iterator& operator++() {
            ++it_;
            bar_->tick();
            if (it_ == end_) bar_->finish();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& a, std::default_sentinel_t) {
            return a.it_ == a.end_;
        }

      private:
        friend class Progress;
        std::ranges::iterator_t<View> it_{};
        std::ranges::sentinel_t<View> end_{};
        detail::ProgressBar* bar_ = nullptr;
    };

    iterator begin() {
        std::optional<std::size_t> total;
        if constexpr (std::ranges::sized_range<View>)
            total = static_cast<std::size_t>(std::ranges::size(view_));
        bar_ = std::make_unique<detail::ProgressBar>(label_, total);
        iterator it;
        it.it_ = std::ranges::begin(view_);
        it.end_ = std::ranges::end(view_);
        it.bar_ = bar_.get();
        if (it.it_ == it.end_) bar_->finish();
        return it;
    }
    std::default_sentinel_t end() const noexcept { return {}; }

  private:
    View view_;
    std::string label_;
    std::unique_ptr<detail::ProgressBar> bar_;
};

/// progress(range[, label]): iterate `range` with a progress bar on stderr.
template <std::ranges::input_range R>
auto progress(R&& range, std::string label = {}) {
    return Progress<std::views::all_t<R>>(std::views::all(std::forward<R>(range)),
                                          std::move(label));
}

}  // namespace mp
