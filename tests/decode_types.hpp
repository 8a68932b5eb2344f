// Types the frame-decoder tests and the fuzz target (fuzz/fuzz_decode.cpp) both decode.
#pragma once

#include <array>
#include <memory>
#include <vector>

namespace mp::test {

/// A recursive type: a frame can nest it arbitrarily deep.
struct Tree {
    int v = 0;
    std::vector<Tree> kids;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(v, kids);
    }
};

/// An element of 4 KiB: a sequence count in a small frame must not allocate count × 4 KiB.
struct Big {
    std::array<char, 4096> bytes{};
    template <class Archive>
    void serialize(Archive& ar) {
        ar(bytes);
    }
};

}  // namespace mp::test
