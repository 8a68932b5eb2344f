#include "mp/shared_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "mp/errors.hpp"
#include "resource_tracker.hpp"
#include "system.hpp"

namespace mp {

namespace {

constexpr std::size_t kMaxName = 250;

/// "/name" for shm_open; ValueError for a name POSIX or /dev/shm would refuse.
std::string posix_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxName || name == "." || name == ".." ||
        name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos)
        throw ValueError("mp::SharedMemory: invalid name '" + std::string(name) +
                         "' (1 to 250 characters, no '/' and not '.' or '..')");
    return "/" + std::string(name);
}

std::string generated_name() {
    static std::random_device rd;
    auto r = (static_cast<unsigned long long>(rd()) << 32) | rd();
    char buf[64];
    std::snprintf(buf, sizeof buf, "mp-%d-%016llx", static_cast<int>(::getpid()), r);
    return buf;
}

}  // namespace

struct SharedMemory::Impl {
    std::string name;
    std::size_t size = 0;
    void* addr = nullptr;
    bool track = false;

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() { unmap(); }  // the segment stays: unlink() or the tracker removes it
    void unmap() noexcept {
        if (addr != nullptr) ::munmap(addr, size);
        addr = nullptr;
    }
    void map(int fd) {
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        int err = errno;
        detail::close_fd(fd);
        if (p == MAP_FAILED) detail::throw_errno("mp::SharedMemory('" + name + "'): mmap", err);
        addr = p;
    }

    /// Creates `name` with O_EXCL; false if it exists and `retry_on_exist`.
    bool create(std::size_t n, bool retry_on_exist) {
        std::string path = posix_name(name);
        int fd = ::shm_open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0) {
            int err = errno;
            if (err == EEXIST && retry_on_exist) return false;
            detail::throw_errno("mp::SharedMemory: cannot create '" + name + "'" +
                                    (err == EEXIST ? " (it exists: attach with SharedMemory(name), "
                                                     "or remove it with SharedMemory::unlink)"
                                                   : ""),
                                err);
        }
        // Registered at once, so the tracker removes it if this program dies from here on.
        if (track) {
            try {
                detail::tracker_register(name);
            } catch (...) {
                detail::close_fd(fd);
                ::shm_unlink(path.c_str());
                throw;
            }
        }
        auto fail = [&](const std::string& what, int err) {
            detail::close_fd(fd);
            ::shm_unlink(path.c_str());
            if (track) detail::tracker_unregister(name);
            detail::throw_errno("mp::SharedMemory('" + name + "'): " + what, err);
        };
        if (::ftruncate(fd, static_cast<off_t>(n)) < 0)
            fail("ftruncate to " + std::to_string(n), errno);
        // Reserve the pages now: on a full /dev/shm the first write to an unreserved page
        // would kill the program with SIGBUS; this way creation fails with ENOSPC instead.
        int r;
        while ((r = ::posix_fallocate(fd, 0, static_cast<off_t>(n))) == EINTR) {
        }
        if (r != 0) {
            fail("cannot reserve " + std::to_string(n) + " bytes" +
                     (r == ENOSPC ? " (no space left in /dev/shm: free some, or make it larger)"
                                  : ""),
                 r);
        }
        size = n;
        try {
            map(fd);
        } catch (...) {
            ::shm_unlink(path.c_str());
            if (track) detail::tracker_unregister(name);
            throw;
        }
        return true;
    }
};

namespace {
void check_size(std::size_t size) {
    if (size == 0)
        throw ValueError("mp::SharedMemory: size must be positive when creating a segment");
    if (size > (std::size_t(1) << 46))
        throw ValueError("mp::SharedMemory: size " + std::to_string(size) + " is too large");
}
}  // namespace

SharedMemory::SharedMemory(std::size_t size, bool track) : impl_(std::make_shared<Impl>()) {
    check_size(size);
    impl_->track = track;
    for (;;) {
        impl_->name = generated_name();
        if (impl_->create(size, true)) break;
    }
}

SharedMemory::SharedMemory(std::string_view name, std::size_t size, bool track)
    : impl_(std::make_shared<Impl>()) {
    posix_name(name);
    check_size(size);
    impl_->name = name;
    impl_->track = track;
    impl_->create(size, false);
}

SharedMemory::SharedMemory(std::string_view name) : impl_(std::make_shared<Impl>()) {
    std::string path = posix_name(name);
    impl_->name = name;
    int fd = ::shm_open(path.c_str(), O_RDWR, 0);
    if (fd < 0) {
        int err = errno;
        detail::throw_errno(
            "mp::SharedMemory: cannot attach to '" + impl_->name + "'" +
                (err == ENOENT ? " (no such segment: FileNotFoundError; see ls /dev/shm)" : ""),
            err);
    }
    struct stat st {};
    if (::fstat(fd, &st) < 0) {
        int err = errno;
        detail::close_fd(fd);
        detail::throw_errno("mp::SharedMemory('" + impl_->name + "'): fstat", err);
    }
    if (st.st_size <= 0) {
        detail::close_fd(fd);
        throw ValueError("mp::SharedMemory: the segment '" + impl_->name + "' is empty (size 0)");
    }
    impl_->size = static_cast<std::size_t>(st.st_size);
    impl_->map(fd);
}

const std::string& SharedMemory::name() const noexcept {
    return impl_->name;
}
std::size_t SharedMemory::size() const noexcept {
    return impl_->size;
}
std::span<std::byte> SharedMemory::buf() const noexcept {
    if (impl_->addr == nullptr) return {};
    return {static_cast<std::byte*>(impl_->addr), impl_->size};
}
void SharedMemory::close() noexcept {
    impl_->unmap();
}
bool SharedMemory::closed() const noexcept {
    return impl_->addr == nullptr;
}

void SharedMemory::unlink() {
    unlink(impl_->name);
}

void SharedMemory::unlink(std::string_view name) {
    std::string path = posix_name(name);
    int r = ::shm_unlink(path.c_str());
    int err = errno;
    detail::tracker_unregister(name);  // removed (or gone already): nothing left to track
    if (r < 0) {
        detail::throw_errno("mp::SharedMemory::unlink('" + std::string(name) + "')" +
                                (err == ENOENT ? ": no such segment (already unlinked?)" : ""),
                            err);
    }
}

}  // namespace mp
