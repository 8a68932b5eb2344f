// mp/sharedctypes.hpp — Value, RawValue, Array, RawArray (Python: multiprocessing.sharedctypes).
//
//     mp::Value<int> counter(0);                  // Value('i', 0)
//     mp::Process p([counter]() mutable {
//         std::lock_guard g(counter.get_lock());  // with counter.get_lock():
//         counter.value() += 1;                   //     counter.value += 1
//     });
//     p.start(); p.join();                        // counter.value() == 1 here too
//
//     mp::Array<double> a(10);                    // Array('d', 10): ten zeros
//     mp::Array<int> b{1, 2, 3};                  // Array('i', [1, 2, 3])
//     (as with std::vector, braces list elements: Array<int>{10} is one element, 10;
//      Array<int>(10) is ten zeros)
//
// The objects live in an anonymous shared mapping made by the constructor; children
// started afterwards (and copies of the handle) see the same bytes. Nothing is left in
// /dev/shm. Raw layers first, as in Python: RawValue/RawArray are bare shared memory;
// Value/Array add an RLock (get_lock()) and are themselves Lockable, so
// std::lock_guard g(counter) works too.
//
// T must be trivially copyable (int, double, a struct of them, std::array of them):
// its bytes are shared as they are, so no pointer or std::string inside (a compile
// error says so). value(), operator[] and the iterators give plain references into
// shared memory: reads and writes through them are NOT atomic and NOT locked — take
// get_lock() around read-modify-write (`v.value() += 1`), or use std::atomic_ref on
// them. load()/store() on Value take the lock for one read or one write, like Python's
// `v.value` and `v.value = x` on a synchronized Value.
//
// Thread and process safety: the handles may be used from any thread of any process
// that holds one; the data races are yours to prevent, as in Python.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>

#include "mp/detail/shared_region.hpp"
#include "mp/errors.hpp"
#include "mp/synchronize.hpp"

namespace mp {

namespace detail {
/// The compile-time check of the element type of every shared ctype.
template <class T>
struct SharedCtype {
    static_assert(std::is_trivially_copyable_v<T>,
                  "mp::Value / RawValue / Array / RawArray<T>: T must be trivially copyable (its "
                  "bytes are shared between processes as they are: no pointers, std::string or "
                  "vector inside; use a fixed-size struct or std::array)");
    static_assert(alignof(T) <= 4096, "mp::Value / Array<T>: T may not be aligned beyond a page");
    static constexpr bool checked = true;
};
}  // namespace detail

/// Python's RawValue: one T in shared memory, no lock.
template <class T>
class RawValue {
    static_assert(detail::SharedCtype<T>::checked);

  public:
    /// A zero-initialized T (Value('i') is 0).
    RawValue() : RawValue(T{}) {}
    /// A T initialized with `initial`.
    explicit RawValue(const T& initial) : region_(sizeof(T)) {
        p_ = ::new (region_.data()) T(initial);
    }

    /// The shared T (Python's `.value`); not locked.
    [[nodiscard]] T& value() const noexcept { return *p_; }
    /// The shared T itself (Python's get_obj()).
    [[nodiscard]] T& get_obj() const noexcept { return *p_; }

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    detail::SharedRegion region_;
    T* p_ = nullptr;
};

/// Python's Value: a RawValue plus an RLock (get_lock()).
template <class T>
class Value : public detail::LockInterface<Value<T>> {
  public:
    Value() : Value(T{}) {}
    /// Value(typecode, initial): a new RLock guards it.
    explicit Value(const T& initial) : raw_(initial) {}
    /// Value(typecode, initial, lock=lock): share an existing RLock.
    Value(const T& initial, RLock lock) : raw_(initial), lock_(std::move(lock)) {}

    /// The shared T; not locked: hold get_lock() around read-modify-write.
    [[nodiscard]] T& value() const noexcept { return raw_.value(); }
    /// The shared T (Python's get_obj()).
    [[nodiscard]] T& get_obj() const noexcept { return raw_.get_obj(); }
    /// The lock guarding it (an RLock, as in Python).
    [[nodiscard]] RLock& get_lock() noexcept { return lock_; }

    /// A copy of the value, read under the lock (Python's `v.value`).
    [[nodiscard]] T load() {
        std::lock_guard g(lock_);
        return raw_.value();
    }
    /// Writes the value under the lock (Python's `v.value = x`).
    void store(const T& x) {
        std::lock_guard g(lock_);
        raw_.value() = x;
    }

    // The lock's interface, as Python's synchronized wrapper (`with v:` is
    // std::lock_guard g(v)): acquire(), acquire(false), acquire(timeout), release(), lock() ...
    bool acquire_until(detail::Deadline deadline) { return lock_.acquire_until(deadline); }
    void release() { lock_.release(); }

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    RawValue<T> raw_;
    RLock lock_;
};

/// Python's RawArray: a fixed number of T in shared memory, no lock.
template <class T>
class RawArray {
    static_assert(detail::SharedCtype<T>::checked);

  public:
    using value_type = T;
    using size_type = std::size_t;
    using iterator = T*;
    using const_iterator = const T*;

    /// `n` zero-filled elements (Array('d', n)).
    explicit RawArray(std::size_t n) : RawArray(n, 0) {
        std::uninitialized_value_construct_n(data_, n);
    }
    /// The elements of `init` (Array('i', [1, 2, 3])).
    RawArray(std::initializer_list<T> init) : RawArray(init.size(), 0) {
        std::uninitialized_copy(init.begin(), init.end(), data_);
    }
    /// The elements of any sized range convertible to T (copying a RawArray shares it instead).
    template <std::ranges::sized_range R>
    requires(!std::is_same_v<std::remove_cvref_t<R>, RawArray> &&
             std::convertible_to<std::ranges::range_reference_t<R>, T>) explicit RawArray(R&& range)
        : RawArray(std::ranges::size(range), 0) {
        std::size_t i = 0;
        for (auto&& x : range) ::new (data_ + i++) T(static_cast<T>(x));
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] T* data() const noexcept { return data_; }
    /// Element i, unchecked (not locked).
    [[nodiscard]] T& operator[](std::size_t i) const noexcept { return data_[i]; }
    /// Element i; ValueError if i >= size() (Python's IndexError).
    [[nodiscard]] T& at(std::size_t i) const {
        if (i >= size_)
            throw ValueError("mp::Array index " + std::to_string(i) + " out of range (size " +
                             std::to_string(size_) + ")");
        return data_[i];
    }
    [[nodiscard]] T* begin() const noexcept { return data_; }
    [[nodiscard]] T* end() const noexcept { return data_ + size_; }
    /// The shared elements (Python's get_obj()).
    [[nodiscard]] std::span<T> get_obj() const noexcept { return {data_, size_}; }

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    RawArray(std::size_t n, int) : region_(bytes_for(n)), size_(n) {
        data_ = static_cast<T*>(region_.data());
    }
    static std::size_t bytes_for(std::size_t n) {
        if (n > (std::size_t(1) << 40) / sizeof(T))
            throw ValueError("mp::Array: " + std::to_string(n) + " elements is too many");
        return std::max<std::size_t>(1, n * sizeof(T));  // an empty array still maps a page
    }

    detail::SharedRegion region_;
    std::size_t size_ = 0;
    T* data_ = nullptr;
};

/// Python's Array: a RawArray plus an RLock (get_lock()).
template <class T>
class Array : public detail::LockInterface<Array<T>> {
  public:
    using value_type = T;
    using size_type = std::size_t;
    using iterator = T*;
    using const_iterator = const T*;

    explicit Array(std::size_t n) : raw_(n) {}
    Array(std::initializer_list<T> init) : raw_(init) {}
    template <std::ranges::sized_range R>
    requires(!std::is_same_v<std::remove_cvref_t<R>, Array> &&
             std::convertible_to<std::ranges::range_reference_t<R>, T>) explicit Array(R&& range)
        : raw_(std::forward<R>(range)) {}
    /// Array(typecode, n, lock=lock): share an existing RLock.
    Array(std::size_t n, RLock lock) : raw_(n), lock_(std::move(lock)) {}

    [[nodiscard]] std::size_t size() const noexcept { return raw_.size(); }
    [[nodiscard]] bool empty() const noexcept { return raw_.empty(); }
    [[nodiscard]] T* data() const noexcept { return raw_.data(); }
    [[nodiscard]] T& operator[](std::size_t i) const noexcept { return raw_[i]; }
    [[nodiscard]] T& at(std::size_t i) const { return raw_.at(i); }
    [[nodiscard]] T* begin() const noexcept { return raw_.begin(); }
    [[nodiscard]] T* end() const noexcept { return raw_.end(); }
    [[nodiscard]] std::span<T> get_obj() const noexcept { return raw_.get_obj(); }
    [[nodiscard]] RLock& get_lock() noexcept { return lock_; }

    // The lock's interface, as for Value.
    bool acquire_until(detail::Deadline deadline) { return lock_.acquire_until(deadline); }
    void release() { lock_.release(); }

    template <class>
    friend struct ::mp::detail::Reduce;  // how a handle travels (detail/reduce_handles.hpp)

  private:
    RawArray<T> raw_;
    RLock lock_;
};

}  // namespace mp

#include "mp/detail/reduce_handles.hpp"  // NOLINT: Reduce<> for Value and Array
