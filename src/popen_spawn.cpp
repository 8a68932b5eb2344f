// The spawn start method (Python's popen_spawn_posix.py): a fresh image of this
// program (posix_spawn of /proc/self/exe, see boot.cpp), which reads its child
// description and the fds of its handles from a socket pair, then runs the task.
// Also the child description's wire format, shared with the fork server.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "popen.hpp"

namespace mp::detail {

void put_bytes(Bytes& out, std::span<const std::byte> b) {
    put_pod<std::uint64_t>(out, b.size());
    out.insert(out.end(), b.begin(), b.end());
}

std::span<const std::byte> get_bytes(std::span<const std::byte>& in) {
    auto n = get_pod<std::uint64_t>(in);
    if (n > in.size())
        throw SerializationError("corrupt child description (or pool zygote description)");
    auto b = in.first(static_cast<std::size_t>(n));
    in = in.subspan(static_cast<std::size_t>(n));
    return b;
}

namespace {

void put_string(Bytes& out, const std::string& s) {
    put_bytes(out, std::as_bytes(std::span(s.data(), s.size())));
}

std::string get_string(std::span<const std::byte>& in) {
    auto b = get_bytes(in);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

constexpr std::uint64_t kSpecMagic = 0x31435053504d;  // "MPSPC1"

}  // namespace

Bytes encode_spec(const ChildSpec& spec) {
    Bytes out;
    put_pod(out, kSpecMagic);
    put_string(out, spec.name);
    put_pod<std::uint8_t>(out, spec.daemon ? 1 : 0);
    put_pod<std::uint64_t>(out, spec.identity.size());
    for (int i : spec.identity) put_pod(out, i);
    put_string(out, spec.parent_name);
    put_pod(out, spec.parent_pid);
    put_pod<std::uint8_t>(out, spec.parent_daemon ? 1 : 0);
    put_pod(out, spec.trampoline);
    put_bytes(out, spec.callable);
    put_bytes(out, spec.args);
    return out;
}

ChildSpec decode_spec(std::span<const std::byte> in) {
    ChildSpec spec;
    if (get_pod<std::uint64_t>(in) != kSpecMagic)
        throw SerializationError("corrupt child description (not from mp?)");
    spec.name = get_string(in);
    spec.daemon = get_pod<std::uint8_t>(in) != 0;
    auto n = get_pod<std::uint64_t>(in);
    if (n > in.size() / sizeof(int)) throw SerializationError("corrupt child description");
    for (std::uint64_t i = 0; i < n; ++i) spec.identity.push_back(get_pod<int>(in));
    spec.parent_name = get_string(in);
    spec.parent_pid = get_pod<pid_t>(in);
    spec.parent_daemon = get_pod<std::uint8_t>(in) != 0;
    spec.trampoline = get_pod<CodeRef>(in);
    auto c = get_bytes(in);
    spec.callable.assign(c.begin(), c.end());
    auto a = get_bytes(in);
    spec.args.assign(a.begin(), a.end());
    if (!in.empty()) throw SerializationError("corrupt child description: bytes left over");
    return spec;
}

std::unique_ptr<Popen> launch_spawn(ChildSpec& spec) {
    int sv[2];
    check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "Process.start: socketpair");
    pid_t pid = 0;
    try {
        pid = spawn_image("spawn", sv[1], spec.daemon);
    } catch (...) {
        close_fd(sv[0]);
        close_fd(sv[1]);
        throw;
    }
    close_fd(sv[1]);
    std::unique_ptr<Popen> popen;
    int self = -1;
    try {
        popen = popen_for_child(pid);
        self = pidfd_open(::getpid());
        if (self < 0) throw_errno("Process.start: pidfd_open of this process");
        std::vector<int> fds{self};
        fds.insert(fds.end(), spec.fds.begin(), spec.fds.end());
        send_with_fds(sv[0], encode_spec(spec), fds);
    } catch (...) {
        close_fd(self);
        close_fd(sv[0]);
        if (popen) {
            popen->send_signal(SIGKILL);
            popen->wait(std::nullopt);
        }
        throw;
    }
    close_fd(self);
    close_fd(sv[0]);
    return popen;
}

}  // namespace mp::detail
