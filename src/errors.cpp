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

std::string current_exception_type_name() {
    const std::type_info* t = abi::__cxa_current_exception_type();
    if (t == nullptr) return "<no exception>";
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> d(abi::__cxa_demangle(t->name(), nullptr, nullptr, &status),
                                                  &std::free);
    std::string name = status == 0 && d ? d.get() : t->name();
    constexpr std::string_view abi_ns = "std::__cxx11::";
    for (auto pos = name.find(abi_ns); pos != std::string::npos; pos = name.find(abi_ns)) {
        name.replace(pos, abi_ns.size(), "std::");
    }
    return name;
}

}  // namespace mp::detail
