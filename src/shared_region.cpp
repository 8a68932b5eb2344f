#include "mp/detail/shared_region.hpp"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <string>

#include "system.hpp"

namespace mp::detail {

namespace {

// Each region keeps an fd open; lift the soft fd limit to the hard one once, so a
// program holding thousands of locks and values does not run out of fds.
void raise_fd_limit() noexcept {
    static std::once_flag once;
    std::call_once(once, [] {
        rlimit rl{};
        if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            ::setrlimit(RLIMIT_NOFILE, &rl);
        }
    });
}

}  // namespace

struct SharedRegion::Mapping {
    void* addr = nullptr;
    std::size_t size = 0;
    int fd = -1;
    Mapping() = default;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() { unmap(); }
    void unmap() noexcept {
        if (addr != nullptr) ::munmap(addr, size);
        addr = nullptr;
        close_fd(fd);
        fd = -1;
    }
    void map(int memfd, std::size_t n) {
        fd = memfd;
        size = n;
        void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) throw_errno("mmap of " + std::to_string(n) + " shared bytes");
        addr = p;
    }
};

SharedRegion::SharedRegion(std::size_t size) {
    if (size == 0) throw ValueError("SharedRegion: size must be positive");
    raise_fd_limit();
    auto m = std::make_shared<Mapping>();
    int fd = ::memfd_create("mp", MFD_CLOEXEC);
    if (fd < 0) throw_errno("memfd_create for " + std::to_string(size) + " shared bytes");
    m->fd = fd;  // closed by ~Mapping if what follows throws
    if (::ftruncate(fd, static_cast<off_t>(size)) < 0)
        throw_errno("ftruncate of a memfd to " + std::to_string(size) + " bytes");
    m->map(fd, size);
    m_ = std::move(m);
}

SharedRegion SharedRegion::adopt(int fd, std::size_t size) {
    auto m = std::make_shared<Mapping>();
    m->fd = fd;
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || size == 0 ||
        static_cast<std::size_t>(st.st_size) < size) {
        throw ValueError("SharedRegion: the fd received is not a shared region of " +
                         std::to_string(size) + " bytes (corrupt or foreign message)");
    }
    m->map(fd, size);
    SharedRegion r;
    r.m_ = std::move(m);
    return r;
}

void* SharedRegion::data() const noexcept {
    return m_ ? m_->addr : nullptr;
}
std::size_t SharedRegion::size() const noexcept {
    return m_ && m_->addr ? m_->size : 0;
}
int SharedRegion::fd() const noexcept {
    return m_ && m_->addr ? m_->fd : -1;
}
void SharedRegion::close() noexcept {
    if (m_) m_->unmap();
}

}  // namespace mp::detail
