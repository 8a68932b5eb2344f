#include "mp/errors.hpp"

#include <cstring>
#include <utility>

namespace mp {

OSError::OSError(int code, const std::string& what)
    : Error(what + ": " + std::strerror(code)), code_(code) {}

RemoteError::RemoteError(std::string type_name, const std::string& message)
    : Error(message), type_name_(std::move(type_name)) {}

WorkerLost::WorkerLost(const std::string& what, std::optional<int> exitcode)
    : Error(what), exitcode_(exitcode) {}

}  // namespace mp

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace mp::detail {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
        s.replace(pos, from.size(), to);
    }
}

}  // namespace

std::string readable_type_name(std::string_view name) {
    std::string s(name);
    replace_all(s, "std::__cxx11::", "std::");
    replace_all(s, "std::basic_string<char>", "std::string");
    replace_all(s, "std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
                "std::string");
    return s;
}

std::string current_exception_type_name() {
    const std::type_info* t = abi::__cxa_current_exception_type();
    if (t == nullptr) return "<no exception>";
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> d(
        abi::__cxa_demangle(t->name(), nullptr, nullptr, &status), &std::free);
    return readable_type_name(status == 0 && d ? d.get() : t->name());
}

}  // namespace mp::detail
