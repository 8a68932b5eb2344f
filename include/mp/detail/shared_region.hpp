// mp/detail/shared_region.hpp — an anonymous shared mapping inherited by fork.
// Internal building block of Value, Array, the queues and the locks.
//
// A SharedRegion is zero-filled memory mapped MAP_SHARED|MAP_ANONYMOUS: no name,
// no fd, nothing in /dev/shm, so nothing can leak; children started after it
// was created see the same bytes. It is a handle: copies share the mapping, the
// last copy in a process unmaps it, and close() unmaps it for every copy here.
#pragma once

#include <cstddef>
#include <memory>

namespace mp::detail {

class SharedRegion {
  public:
    SharedRegion() = default;
    /// Maps `size` zero-filled bytes (page-aligned). ValueError if size is 0.
    explicit SharedRegion(std::size_t size);

    /// The start of the mapping; nullptr once closed. Page-aligned.
    [[nodiscard]] void* data() const noexcept;
    [[nodiscard]] std::size_t size() const noexcept;
    /// Unmaps for every handle in this process.
    void close() noexcept;
    [[nodiscard]] bool closed() const noexcept { return data() == nullptr; }

    template <class T>
    [[nodiscard]] T* as() const noexcept {
        return static_cast<T*>(data());
    }

  private:
    struct Mapping;
    std::shared_ptr<Mapping> m_;
};

}  // namespace mp::detail
