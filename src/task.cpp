// Code references of the task module (<mp/detail/task.hpp>): where a piece of code
// is, as a module hash + offset, and back.
#include "mp/detail/task.hpp"

#include <link.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "mp/errors.hpp"
#include "mp/serialize.hpp"

namespace mp::detail {

namespace {

struct Module {
    std::uint64_t hash = 0;
    std::uintptr_t base = 0;
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;  // PT_LOAD segments
};

std::vector<Module> list_modules() {
    std::vector<Module> mods;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
            auto& out = *static_cast<std::vector<Module>*>(data);
            Module m;
            m.hash = fnv1a(info->dlpi_name != nullptr ? info->dlpi_name : "");
            m.base = static_cast<std::uintptr_t>(info->dlpi_addr);
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const auto& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD) continue;
                std::uintptr_t lo = m.base + ph.p_vaddr;
                m.ranges.emplace_back(lo, lo + ph.p_memsz);
            }
            out.push_back(std::move(m));
            return 0;
        },
        &mods);
    return mods;
}

const Module* find_by_address(const std::vector<Module>& mods, std::uintptr_t a) {
    for (const auto& m : mods) {
        for (auto [lo, hi] : m.ranges) {
            if (a >= lo && a < hi) return &m;
        }
    }
    return nullptr;
}

}  // namespace

CodeRef code_ref(const void* address) {
    // A cache of the loaded modules, refreshed when an address is in none of them
    // (a library was dlopen'ed since).
    static std::mutex mutex;
    static std::vector<Module> mods;
    auto a = reinterpret_cast<std::uintptr_t>(address);
    std::lock_guard lock(mutex);
    const Module* m = find_by_address(mods, a);
    if (m == nullptr) {
        mods = list_modules();
        m = find_by_address(mods, a);
    }
    if (m == nullptr) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%p", address);
        throw ValueError(std::string("mp::Pool: the task's code at ") + buf +
                         " is in no loaded module");
    }
    return CodeRef{m->hash, a - m->base};
}

namespace {

// resolve_code's cache: called by a worker's (or child's) single thread; the parent never
// resolves.
std::vector<Module> resolved_mods;
const Module* resolved_last = nullptr;

}  // namespace

void preload_code_map() {
    resolved_mods = list_modules();
    resolved_last = nullptr;
}

const void* resolve_code(const CodeRef& ref) {
    if (resolved_last == nullptr || resolved_last->hash != ref.module) {
        resolved_last = nullptr;
        for (int pass = 0; pass < 2 && resolved_last == nullptr; ++pass) {
            if (pass == 1) resolved_mods = list_modules();
            for (const auto& m : resolved_mods) {
                if (m.hash == ref.module) {
                    resolved_last = &m;
                    break;
                }
            }
        }
        if (resolved_last == nullptr) return nullptr;
    }
    return reinterpret_cast<const void*>(resolved_last->base +
                                         static_cast<std::uintptr_t>(ref.offset));
}

}  // namespace mp::detail
