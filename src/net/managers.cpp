// The client side of managers: per-thread connections to servers, calls, and the Manager
// that starts (or joins) a server.
#include "mp/managers.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "../system.hpp"
#include "busy_poll.hpp"
#include "handshake.hpp"
#include "manager_server.hpp"
#include "mp/process.hpp"

namespace mp {

namespace detail {

namespace {

constexpr std::chrono::microseconds kClientSpin{60};

// This thread's connections, by server id. A forked child starts with none of its own: the
// inherited ones belong to the parent's conversation.
struct CachedConnection {
    Connection c;
    bool asked = false;       // Op::pipeline was sent
    bool pipelining = false;  // and accepted
    // Answers usually come within microseconds: spin briefly before sleeping for them.
    net::BusyPoll spin{kClientSpin};
};
struct ConnectionCache {
    std::uint64_t generation = 0;  // g_forks when filled
    std::map<std::uint64_t, CachedConnection> conns;
};

// Counts forks in children (a pthread_atfork handler), so that a call need not ask the
// kernel for its pid to notice that it runs in a forked child.
std::atomic<std::uint64_t> g_forks{1};
[[maybe_unused]] const bool g_fork_counter = ::pthread_atfork(nullptr, nullptr, [] {
                                                 g_forks.fetch_add(1, std::memory_order_relaxed);
                                             }) == 0;

ConnectionCache& cache() {
    thread_local ConnectionCache c;
    std::uint64_t generation = g_forks.load(std::memory_order_relaxed);
    if (c.generation != generation) {
        c.conns.clear();
        c.generation = generation;
    }
    return c;
}

Connection connect_to(const ObjectRef& ref, const char* what) {
    try {
        return Client(ref.address, ref.authkey);
    } catch (const AuthenticationError&) {
        throw;
    } catch (const Error& e) {
        throw Error(std::string(what) + ": the manager at " + ref.address.str() +
                    " is not running (shut down?): " + e.what());
    }
}

[[noreturn]] void throw_status(Status st, WireReader& r, const char* what) {
    std::string type = st == Status::remote ? r.str() : "";
    std::string msg = r.str();
    switch (st) {
        case Status::value_error:
            throw ValueError(msg);
        case Status::empty:
            throw Empty(msg);
        case Status::full:
            throw Full(msg);
        case Status::broken_barrier:
            throw BrokenBarrierError(msg);
        case Status::serialization:
            throw SerializationError(msg);
        case Status::remote:
            throw RemoteError(type, msg);
        default:
            throw Error(std::string(what) + ": " + msg);
    }
}

// Sends a request and reads the reply on `c`; mp::Error if the server is gone.
WireReader exchange(Connection& c, const ObjectRef& ref, const Bytes& request, Bytes& reply,
                    const char* what, net::BusyPoll* spin = nullptr) {
    try {
        c.send_bytes(request);
        if (spin != nullptr) (void)spin->wait_readable(c.fileno());
        reply = c.recv_bytes();
    } catch (const Error& e) {
        throw Error(std::string(what) + ": the manager at " + ref.address.str() +
                    " is gone (shut down?): " + e.what());
    }
    WireReader r(reply);
    auto st = static_cast<Status>(r.byte());
    if (st != Status::ok) throw_status(st, r, what);
    return r;
}

}  // namespace

Bytes& start_request(const ObjectRef& ref, Op op) {
    thread_local Bytes buf;
    buf.clear();
    WireWriter(buf).u64(ref.server).u64(ref.id).u64(static_cast<std::uint64_t>(op));
    return buf;
}

WireReader manager_call(const ObjectRef& ref, const Bytes& request, Bytes& reply,
                        const char* what) {
    if (ref.server == 0) {
        throw Error(std::string(what) +
                    ": this proxy refers to no manager (it was default-"
                    "constructed); get one from a Manager");
    }
    auto& conns = cache().conns;
    auto it = conns.find(ref.server);
    if (it == conns.end())
        it = conns.emplace(ref.server, CachedConnection{connect_to(ref, what)}).first;
    try {
        return exchange(it->second.c, ref, request, reply, what, &it->second.spin);
    } catch (const Error& e) {
        if (dynamic_cast<const ValueError*>(&e) || dynamic_cast<const Empty*>(&e) ||
            dynamic_cast<const Full*>(&e) || dynamic_cast<const BrokenBarrierError*>(&e) ||
            dynamic_cast<const SerializationError*>(&e) || dynamic_cast<const RemoteError*>(&e)) {
            throw;  // an answer: the connection is fine
        }
        conns.erase(ref.server);  // broken, or the server is gone: reconnect next time
        throw;
    }
}

void manager_post(const ObjectRef& ref, Bytes& request, const char* what) {
    if (ref.server == 0 || !ref.address.is_unix()) {  // over TCP every call waits (see header)
        Bytes reply;
        (void)manager_call(ref, request, reply, what);
        return;
    }
    auto& conns = cache().conns;
    auto it = conns.find(ref.server);
    if (it == conns.end() || !it->second.asked) {
        Bytes saved = request;  // start_request's buffer is reused by the question
        Bytes reply;
        ObjectRef manager = ref;
        manager.id = 0;
        bool yes =
            manager_call(manager, start_request(manager, Op::pipeline), reply, what).u64() != 0;
        it = conns.find(ref.server);
        it->second.asked = true;
        it->second.pipelining = yes;
        request = std::move(saved);
    }
    if (!it->second.pipelining) {
        Bytes reply;
        (void)manager_call(ref, request, reply, what);
        return;
    }
    // The operation is the third field (each field: a u32 length, then 8 bytes).
    constexpr std::size_t kOpAt = 2 * 12 + 4;
    std::uint64_t op = 0;
    std::memcpy(&op, request.data() + kOpAt, 8);
    op |= kNoReply;
    std::memcpy(request.data() + kOpAt, &op, 8);
    try {
        it->second.c.send_bytes(request);
    } catch (const Error& e) {
        conns.erase(it);
        throw Error(std::string(what) + ": the manager at " + ref.address.str() +
                    " is gone (shut down?): " + e.what());
    }
}

namespace {
std::mutex& registry_mutex() {
    static std::mutex m;
    return m;
}
std::map<std::string, std::pair<std::uint64_t, UserType>, std::less<>>& registry() {
    static std::map<std::string, std::pair<std::uint64_t, UserType>, std::less<>> r;
    return r;
}
}  // namespace

UserType& user_type_entry(const std::string& name, std::uint64_t fingerprint) {
    std::lock_guard lk(registry_mutex());
    auto [it, fresh] = registry().try_emplace(name, fingerprint, UserType{});
    if (!fresh && it->second.first != fingerprint) {
        throw ValueError("register_type: '" + name + "' is already registered for another type");
    }
    return it->second.second;
}

const UserType* find_user_type(std::string_view name) {
    std::lock_guard lk(registry_mutex());
    auto it = registry().find(name);
    return it == registry().end() ? nullptr : &it->second.second;
}

}  // namespace detail

// ---- Manager -----------------------------------------------------------------------------

struct Manager::Server {
    Process process;
    Connection lifeline;      // its peer in the server: EOF there when every owner is gone
    std::string private_dir;  // the default address's directory, removed at shutdown
};

namespace {

std::uint64_t random_u64() {
    for (;;) {
        Bytes b = detail::net::random_bytes(8);
        std::uint64_t v = 0;
        std::memcpy(&v, b.data(), 8);
        if (v != 0) return v;
    }
}

void remove_private_dir(const std::string& dir, const Address& address) {
    if (dir.empty()) return;
    ::unlink(address.path().c_str());
    ::rmdir(dir.c_str());
}

}  // namespace

Manager::Manager() : Manager(ManagerOptions{}) {}

Manager::Manager(ManagerOptions options) : server_(std::make_unique<Server>()) {
    if (options.authkey) {
        ref_.authkey = *options.authkey;
    } else {
        Bytes key = detail::net::random_bytes(32);
        ref_.authkey.assign(reinterpret_cast<const char*>(key.data()), key.size());
    }
    if (options.address) {
        ref_.address = *options.address;
    } else {
        char tmpl[] = "/tmp/mp-manager-XXXXXX";  // mode 0700: only this user can connect
        if (::mkdtemp(tmpl) == nullptr) detail::throw_errno("Manager: mkdtemp in /tmp");
        server_->private_dir = tmpl;
        ref_.address = Address(server_->private_dir + "/manager.sock");
    }
    ref_.server = random_u64();
    auto pipe = Pipe();  // not a structured binding: C++20 lambdas cannot capture those (clang)
    Connection mine = pipe.first;
    Connection theirs = pipe.second;
    server_->process = Process(
        [mine, theirs, address = ref_.address, key = ref_.authkey, id = ref_.server]() mutable {
            mine.close();
            detail::run_manager_server(address, key, id, std::move(theirs));
        });
    server_->process.set_name("SyncManager");
    server_->process.set_daemon(true);
    server_->process.start();
    theirs.close();
    server_->lifeline = mine;
    int code = -1;
    std::string error = "the server process ended before it listened";
    try {
        if (mine.poll(std::chrono::seconds(60))) {
            code = mine.recv<int>();
            if (code == 0) {
                ref_.address = mine.recv<Address>();
            } else {
                error = mine.recv<std::string>();
            }
        }
    } catch (const Error&) {  // EOF: the server died
    }
    if (code != 0) {
        if (!server_->process.join(std::chrono::seconds(5))) {
            server_->process.kill();
            server_->process.join();
        }
        remove_private_dir(server_->private_dir, ref_.address);
        shut_down_ = true;
        if (code > 0) throw OSError(code, "Manager: " + error);
        throw ValueError("Manager: " + error);
    }
}

Manager::Manager(detail::ObjectRef ref, std::unique_ptr<Server> server)
    : ref_(std::move(ref)), server_(std::move(server)) {}

Manager Manager::connect(const Address& address, const std::string& authkey) {
    detail::ObjectRef ref{address, authkey, 0, 0};
    Connection c = detail::connect_to(ref, "Manager::connect");
    Bytes reply;
    auto r = detail::exchange(c, ref, detail::start_request(ref, detail::Op::hello), reply,
                              "Manager::connect");
    ref.server = r.u64();
    return Manager(std::move(ref), nullptr);
}

Manager::Manager(Manager&& o) noexcept
    : ref_(std::move(o.ref_)), server_(std::move(o.server_)), shut_down_(o.shut_down_) {
    o.shut_down_ = true;
}

Manager& Manager::operator=(Manager&& o) noexcept {
    if (this != &o) {
        shutdown();
        ref_ = std::move(o.ref_);
        server_ = std::move(o.server_);
        shut_down_ = std::exchange(o.shut_down_, true);
    }
    return *this;
}

Manager::~Manager() {
    shutdown();
}

void Manager::shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    detail::cache().conns.erase(ref_.server);
    if (!server_) return;  // connected: the server is not ours to stop
    try {
        Connection c = detail::connect_to(ref_, "Manager.shutdown");
        Bytes reply;
        (void)detail::exchange(c, ref_, detail::start_request(ref_, detail::Op::shutdown), reply,
                               "Manager.shutdown");
    } catch (const Error&) {  // already gone: joining below is all that is left
    }
    server_->lifeline.close();  // also tells the server to stop if the request did not reach it
    if (!server_->process.join(std::chrono::seconds(10))) {
        server_->process.terminate();
        if (!server_->process.join(std::chrono::seconds(2))) {
            server_->process.kill();
            server_->process.join();
        }
    }
    remove_private_dir(server_->private_dir, ref_.address);
}

detail::ObjectRef Manager::create(detail::Kind kind, const std::string& tag, std::string_view name,
                                  const Bytes& init) {
    if (shut_down_) throw Error("Manager: it was shut down; make a new one");
    Bytes& request = detail::start_request(ref_, detail::Op::create);
    detail::WireWriter(request)
        .u64(static_cast<std::uint64_t>(kind))
        .str(tag)
        .str(name)
        .field(init);
    Bytes reply;
    auto r = detail::manager_call(ref_, request, reply, "Manager.create");
    detail::ObjectRef ref = ref_;
    ref.id = r.u64();
    return ref;
}

}  // namespace mp
