#include "mp/detail/shared_region.hpp"

#include <sys/mman.h>

#include <string>

#include "system.hpp"

namespace mp::detail {

struct SharedRegion::Mapping {
    void* addr = nullptr;
    std::size_t size = 0;
    Mapping() = default;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() { unmap(); }
    void unmap() noexcept {
        if (addr != nullptr) ::munmap(addr, size);
        addr = nullptr;
    }
};

SharedRegion::SharedRegion(std::size_t size) {
    if (size == 0) throw ValueError("SharedRegion: size must be positive");
    auto m = std::make_shared<Mapping>();
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_errno("mmap of " + std::to_string(size) + " shared bytes");
    m->addr = p;
    m->size = size;
    m_ = std::move(m);
}

void* SharedRegion::data() const noexcept {
    return m_ ? m_->addr : nullptr;
}
std::size_t SharedRegion::size() const noexcept {
    return m_ && m_->addr ? m_->size : 0;
}
void SharedRegion::close() noexcept {
    if (m_) m_->unmap();
}

}  // namespace mp::detail
