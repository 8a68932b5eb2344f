// The examples print in the tour's language: MP_LANG=es (mp-tour --lang es sets it)
// gives Spanish, anything else English.
#pragma once

#include <cstdlib>
#include <string_view>

namespace example {

inline bool spanish() {
    static const bool es = [] {
        const char* l = std::getenv("MP_LANG");
        return l != nullptr && std::string_view(l) == "es";
    }();
    return es;
}

/// `en` or `es`, by MP_LANG.
inline const char* tr(const char* en, const char* es) {
    return spanish() ? es : en;
}

}  // namespace example
