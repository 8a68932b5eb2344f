// mp/detail/shared_region.hpp — a shared mapping backed by a memfd.
// Internal building block of Value, Array, the queues, the locks and the Pool.
//
// A SharedRegion is zero-filled memory mapped MAP_SHARED from an anonymous memfd: no
// name, nothing in /dev/shm, so nothing can leak — the memory is freed when the last
// mapping and the last fd to it are gone, in every process. A forked child sees the
// same bytes; any other process gets them through the fd (passed with SCM_RIGHTS, see
// <mp/detail/reduction.hpp>) and SharedRegion::adopt. It is a handle: copies share the
// mapping, the last copy in a process unmaps it and closes the fd, and close() does so
// for every copy here.
#pragma once

#include <cstddef>
#include <memory>

namespace mp::detail {

class SharedRegion {
  public:
    SharedRegion() = default;
    /// Maps `size` zero-filled bytes (page-aligned). ValueError if size is 0.
    explicit SharedRegion(std::size_t size);
    /// Maps the memfd `fd` (owned from now on) as a region of `size` bytes, as sent by
    /// another process. ValueError if the fd is not a shared region of that size.
    static SharedRegion adopt(int fd, std::size_t size);

    /// The start of the mapping; nullptr once closed. Page-aligned.
    [[nodiscard]] void* data() const noexcept;
    [[nodiscard]] std::size_t size() const noexcept;
    /// The memfd behind the mapping (-1 once closed): what travels to another process.
    [[nodiscard]] int fd() const noexcept;
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
