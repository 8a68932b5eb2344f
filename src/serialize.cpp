#include "mp/serialize.hpp"

#include <cxxabi.h>

#include <cstdio>
#include <mutex>
#include <unordered_map>

namespace mp {
namespace detail {
namespace {

struct NameRegistry {
    std::mutex mutex;
    std::unordered_map<std::uint64_t, std::string_view> names;
};

NameRegistry& registry() {
    static NameRegistry* r = new NameRegistry;  // never destroyed: used from static init and exit
    return *r;
}

}  // namespace

bool register_type_name(std::uint64_t fingerprint, std::string_view name) noexcept {
    try {
        auto& r = registry();
        std::lock_guard lock(r.mutex);
        r.names.emplace(fingerprint, name);
        return true;
    } catch (...) {
        return false;
    }
}

std::string describe_fingerprint(std::uint64_t fingerprint) {
    {
        auto& r = registry();
        std::lock_guard lock(r.mutex);
        if (auto it = r.names.find(fingerprint); it != r.names.end()) {
            return readable_type_name(it->second);
        }
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "an unknown type (fingerprint %016llx)",
                  static_cast<unsigned long long>(fingerprint));
    return buf;
}

void InputArchive::loadBinary(void* data, std::size_t size) {
    if (size > remaining()) {
        throw SerializationError("truncated frame: " + std::to_string(size) +
                                 " more bytes needed, " + std::to_string(remaining()) + " left");
    }
    if (size != 0) std::memcpy(data, in_.data() + pos_, size);
    pos_ += size;
}

void InputArchive::check_length(std::uint64_t n) const {
    if (n > remaining()) {
        throw SerializationError("corrupt frame: a sequence announces " + std::to_string(n) +
                                 " elements but only " + std::to_string(remaining()) +
                                 " bytes follow");
    }
}

void InputArchive::check_elements(std::uint64_t n, std::size_t min_size) const {
    check_length(n);
    if (min_size > 1 && n > remaining() / min_size) {
        throw SerializationError("corrupt frame: a sequence announces " + std::to_string(n) +
                                 " elements of at least " + std::to_string(min_size) +
                                 " bytes each but only " + std::to_string(remaining()) +
                                 " bytes follow");
    }
}

void InputArchive::charge(std::size_t bytes) {
    if (bytes > budget_ - spent_) {
        throw SerializationError("corrupt frame: decoding it would allocate more than " +
                                 std::to_string(budget_) + " bytes (64 times the " +
                                 std::to_string(in_.size()) +
                                 "-byte payload, plus 1 MiB); a frame this small cannot hold "
                                 "that much");
    }
    spent_ += bytes;
}

void InputArchive::enter() {
    if (++depth_ > kMaxDecodeDepth) {
        throw SerializationError("corrupt frame: values nest more than " +
                                 std::to_string(kMaxDecodeDepth) +
                                 " levels deep (a recursive type this deep would overflow the "
                                 "stack)");
    }
}

}  // namespace detail

void validate_header(const FrameHeader& h) {
    if (h.magic != FrameHeader::kMagic) {
        throw SerializationError(
            "corrupt frame: bad magic number (the stream is out of step or "
            "was not written by mp)");
    }
    if (h.kind != FrameKind::raw && h.kind != FrameKind::bytes && h.kind != FrameKind::cereal) {
        throw SerializationError("corrupt frame: unknown encoding " +
                                 std::to_string(static_cast<std::uint32_t>(h.kind)));
    }
    if (h.size > kMaxFrameSize) {
        throw SerializationError("corrupt frame: length " + std::to_string(h.size) +
                                 " exceeds the 1 TiB limit");
    }
}

FrameHeader read_header(std::span<const std::byte> frame) {
    if (frame.size() < sizeof(FrameHeader)) {
        throw SerializationError("truncated frame: " + std::to_string(frame.size()) +
                                 " bytes, shorter than the 24-byte header");
    }
    FrameHeader h;
    std::memcpy(&h, frame.data(), sizeof h);
    validate_header(h);
    return h;
}

}  // namespace mp
