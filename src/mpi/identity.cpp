// Same code on every rank, checked at init (UPC++'s verify_all is the prior art): a
// task names its code by module + offset, so every rank must load the same modules
// with the same contents. Each rank lists its modules (dl_iterate_phdr) with their
// GNU build ids (the NT_GNU_BUILD_ID note); rank 0 gathers the lists and compares.
#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "mpi/mpi_internal.hpp"

namespace mp::mpi::detail {

namespace {

std::string hex(const unsigned char* p, std::size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

// The GNU build id in the PT_NOTE segments of a loaded module ("" if it has none).
std::string build_id(const dl_phdr_info* info) {
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_NOTE) continue;
        std::size_t align = ph.p_align == 8 ? 8 : 4;
        auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
        std::size_t left = ph.p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) nh;
            std::memcpy(&nh, p, sizeof nh);
            std::size_t name_at = sizeof nh;
            std::size_t desc_at = name_at + (nh.n_namesz + align - 1) / align * align;
            std::size_t next = desc_at + (nh.n_descsz + align - 1) / align * align;
            if (next > left) break;
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                std::memcmp(p + name_at, "GNU", 4) == 0) {
                return hex(p + desc_at, nh.n_descsz);
            }
            p += next;
            left -= next;
        }
    }
    return "";
}

struct Entry {
    std::string name;
    std::string id;
};

std::vector<Entry> parse(const std::string& text) {
    std::vector<Entry> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto tab = line.find('\t');
        if (tab == std::string::npos) continue;
        out.push_back({line.substr(0, tab), line.substr(tab + 1)});
    }
    return out;
}

std::string display(const std::string& name) {
    return name.empty() ? std::string("the program") : name;
}

}  // namespace

std::string module_identity() {
    std::string out;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
            std::string name = info->dlpi_name != nullptr ? info->dlpi_name : "";
            // The kernel's vDSO (no path) differs between kernels and holds no task code.
            if (!name.empty() && name.find('/') == std::string::npos) return 0;
            auto& text = *static_cast<std::string*>(data);
            text += name + '\t' + build_id(info) + '\n';
            return 0;
        },
        &out);
    return out;
}

std::string compare_identity(const std::string& root, const std::string& other, int rank) {
    auto mine = parse(root);
    auto theirs = parse(other);
    std::string who = "rank " + std::to_string(rank);
    for (const auto& m : mine) {
        const Entry* t = nullptr;
        for (const auto& e : theirs) {
            if (e.name == m.name) t = &e;
        }
        if (t == nullptr) {
            return who + " has not loaded " + display(m.name) +
                   ", which rank 0 has: a task naming code in it could not run there";
        }
        if (m.name.empty() && m.id.empty()) {
            return "the program has no GNU build id, so mp cannot check that every rank runs "
                   "it: link it with -Wl,--build-id (linking the CMake target mp::mpi does)";
        }
        if (t->id != m.id) {
            std::string what = m.name.empty()
                                   ? who + " runs a different program than rank 0"
                                   : who + " loads a different " + m.name + " than rank 0";
            return what + " (build id " + (t->id.empty() ? "none" : t->id) + ", rank 0's " +
                   (m.id.empty() ? "none" : m.id) +
                   "). Every rank must run the same build: copy the one binary (and the same "
                   "libraries) to every node, or build once on a shared file system";
        }
    }
    return "";
}

void check_same_code() {
    auto& rt = runtime();
    std::string mine = module_identity();
    int len = static_cast<int>(mine.size());
    std::vector<int> lens(rt.rank == 0 ? static_cast<std::size_t>(rt.size) : 0);
    check_mpi(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, rt.comm), "MPI_Gather");
    std::vector<int> displs;
    std::string all;
    if (rt.rank == 0) {
        int at = 0;
        for (int l : lens) {
            displs.push_back(at);
            at += l;
        }
        all.resize(static_cast<std::size_t>(at));
    }
    check_mpi(MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(),
                          MPI_CHAR, 0, rt.comm),
              "MPI_Gatherv");
    std::string verdict;
    if (rt.rank == 0) {
        for (int r = 1; r < rt.size && verdict.empty(); ++r) {
            auto k = static_cast<std::size_t>(r);
            verdict = compare_identity(mine, all.substr(displs[k], lens[k]), r);
        }
        if (verdict.empty() && rt.size > 1) verdict = compare_identity(mine, mine, 0);
    }
    int bad = verdict.empty() ? 0 : 1;
    check_mpi(MPI_Bcast(&bad, 1, MPI_INT, 0, rt.comm), "MPI_Bcast");
    if (bad == 0) return;
    if (rt.rank == 0) {
        std::fprintf(stderr, "mp::mpi::init: %s. Stopping the job.\n", verdict.c_str());
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    // Rank 0 aborts the job; nothing sensible is left to do here meanwhile.
    ::sleep(60);
    std::_Exit(1);
}

}  // namespace mp::mpi::detail
