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
#include <unordered_map>

#include "../system.hpp"
#include "handshake.hpp"
#include "manager_server.hpp"
#include "mp/detail/park.hpp"
#include "mp/process.hpp"

namespace mp {

namespace detail {

namespace {

// How long a call polls for its answer before it sleeps (a server on this machine).
constexpr auto kReplySpin = std::chrono::microseconds(50);

// This thread's connections, by server id. A forked child starts with none of its own: the
// inherited ones belong to the parent's conversation.
struct CachedConnection {
    Connection c;
    bool asked = false;       // Op::pipeline was sent
    bool pipelining = false;  // and accepted
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
                    const char* what) {
    try {
        c.send_bytes(request);
        // The server's thread on this machine answers within µs: poll for the answer a
        // while before sleeping in read (a wake-up on another CPU costs ~25 µs each way).
        if (ref.address.is_unix()) (void)spin_until_readable(c.fileno(), kReplySpin);
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

// Sets kNoReply in a request built by start_request: the operation is its third field
// (each field: a u32 length, then 8 bytes).
void mark_no_reply(Bytes& request) {
    constexpr std::size_t kOpAt = 2 * 12 + 4;
    std::uint64_t op = 0;
    std::memcpy(&op, request.data() + kOpAt, 8);
    op |= kNoReply;
    std::memcpy(request.data() + kOpAt, &op, 8);
}

}  // namespace

namespace {
// A request's header in a buffer of its own (reference operations may be sent while a
// proxy is being written into start_request's buffer: a proxy as a call's argument).
Bytes own_request(const ObjectRef& ref, Op op) {
    Bytes b;
    WireWriter(b).u64(ref.server).u64(ref.id).u64(static_cast<std::uint64_t>(op));
    return b;
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
        return exchange(it->second.c, ref, request, reply, what);
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
    mark_no_reply(request);
    try {
        it->second.c.send_bytes(request);
    } catch (const Error& e) {
        conns.erase(it);
        throw Error(std::string(what) + ": the manager at " + ref.address.str() +
                    " is gone (shut down?): " + e.what());
    }
}

// ---- References (see "Lifetime" in <mp/managers.hpp>) ------------------------------------

namespace {

// This process's references, per server, held on one connection of the process (not of a
// thread: a thread that ends must not drop them). The server frees an unnamed object when
// no connection holds it and no token of it is in flight; the connection closing (the
// process ended or was killed) drops its references.
struct ServerRefs {
    ObjectRef manager;  // id 0 of the server
    Connection conn;    // closed: connect on next use
    bool pipelining = false;
    std::unordered_map<std::uint64_t, std::size_t> local;  // id → this process's References
    Connection for_child;  // made before a fork: the child's, holding `local`'s ids
};

struct RefTable {
    std::mutex mu;
    std::map<std::uint64_t, ServerRefs> servers;
};

// Never destroyed: proxies in static storage may end after any other static.
RefTable& refs() {
    static auto* table = new RefTable;
    return *table;
}

// Opens the reference connection to `manager`'s server and asks to pipeline.
Connection open_ref_connection(const ObjectRef& manager, bool* pipelining) {
    Connection c = connect_to(manager, "manager references");
    if (pipelining != nullptr) {
        Bytes reply;
        *pipelining =
            manager.address.is_unix() &&
            exchange(c, manager, own_request(manager, Op::pipeline), reply, "manager references")
                    .u64() != 0;
    }
    return c;
}

ServerRefs& server_refs(const ObjectRef& ref) {
    auto& e = refs().servers[ref.server];
    if (e.manager.server == 0) {
        e.manager = ref;
        e.manager.id = 0;
        e.manager.counted = false;
    }
    if (e.conn.closed()) e.conn = open_ref_connection(e.manager, &e.pipelining);
    return e;
}

// Sends a reference operation on `e`'s connection: pipelined where it may, else answered.
void ref_send(ServerRefs& e, Op op, std::uint64_t id, std::uint64_t token = 0) {
    Bytes request = own_request(e.manager, op);
    WireWriter w(request);
    w.u64(id);
    if (op == Op::transit || op == Op::adopt) w.u64(token);
    try {
        if (e.pipelining) {
            mark_no_reply(request);
            e.conn.send_bytes(request);
        } else {
            Bytes reply;
            (void)exchange(e.conn, e.manager, request, reply, "manager references");
        }
    } catch (const Error&) {
        e.conn.close();  // the server is gone (or the connection broke): reconnect next time
        throw;
    }
}

// A random, nonzero 64-bit number (a server id, a reference token).
std::uint64_t random_nonzero_u64() {
    for (;;) {
        Bytes b = net::random_bytes(8);
        std::uint64_t v = 0;
        std::memcpy(&v, b.data(), 8);
        if (v != 0) return v;
    }
}

// Fork: the child must hold what this process holds before the parent can drop it, and
// its references must go when it ends, however it ends. So before the fork the parent
// opens a connection per server that holds this process's objects (an answered Op::hold,
// applied before fork returns); the child takes it as its reference connection, and the
// parent closes its copy. The child handler only moves and closes fds (async-signal-safe).
void before_fork() noexcept {
    refs().mu.lock();
    for (auto& [server, e] : refs().servers) {
        if (e.local.empty()) continue;
        try {
            Connection c = open_ref_connection(e.manager, nullptr);
            Bytes request = own_request(e.manager, Op::hold);
            WireWriter w(request);
            w.u64(e.local.size());
            for (auto& [id, n] : e.local) w.u64(id);
            Bytes reply;
            (void)exchange(c, e.manager, request, reply, "manager references (fork)");
            e.for_child = c;
        } catch (...) {  // the server is gone: the child holds nothing there
        }
    }
}
void after_fork_in_parent() noexcept {
    for (auto& [server, e] : refs().servers) {
        if (!e.for_child.closed()) e.for_child.close();
        e.for_child = Connection();
    }
    refs().mu.unlock();
}
void after_fork_in_child() noexcept {
    for (auto& [server, e] : refs().servers) {
        if (!e.conn.closed()) e.conn.close();  // the parent's: never written to from here
        std::swap(e.conn, e.for_child);        // (a Connection move: no allocation)
        e.pipelining = false;                  // not asked on this one
    }
    refs().mu.unlock();
}
[[maybe_unused]] const bool g_ref_fork_handlers =
    ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) == 0;

}  // namespace

Reference::Reference(const ObjectRef& ref, std::uint64_t token, bool fresh) : ref_(ref) {
    std::lock_guard lk(refs().mu);
    ServerRefs* e = nullptr;
    try {
        e = &server_refs(ref_);
    } catch (const Error&) {
        if (fresh) throw;
        return;  // the server is gone: calls through the proxy will say so
    }
    std::size_t& n = e->local[ref_.id];
    try {
        if (token != 0) {
            ref_send(*e, Op::adopt, ref_.id, token);  // always: the token must be released
        } else if (n == 0 && !fresh) {
            ref_send(*e, Op::incref, ref_.id);
        }
    } catch (const Error&) {
    }
    ++n;
}

Reference::~Reference() {
    try {
        std::lock_guard lk(refs().mu);
        auto s = refs().servers.find(ref_.server);
        if (s == refs().servers.end()) return;
        auto it = s->second.local.find(ref_.id);
        if (it == s->second.local.end() || --it->second > 0) return;
        s->second.local.erase(it);
        if (!s->second.conn.closed()) ref_send(s->second, Op::decref, ref_.id);
    } catch (...) {  // the server is gone: nothing left to free
    }
}

std::uint64_t Reference::transit() const {
    try {
        std::lock_guard lk(refs().mu);
        ServerRefs& e = server_refs(ref_);
        std::uint64_t token = random_nonzero_u64();
        ref_send(e, Op::transit, ref_.id, token);
        return token;
    } catch (const Error&) {
        return 0;
    }
}

Created create_counted(const ObjectRef& manager, const Bytes& request) {
    Created c{manager, nullptr};
    {
        std::lock_guard lk(refs().mu);
        ServerRefs& e = server_refs(manager);
        Bytes reply;
        try {
            c.ref.id = exchange(e.conn, manager, request, reply, "Manager.create").u64();
        } catch (const Error& err) {
            if (!dynamic_cast<const ValueError*>(&err)) e.conn.close();
            throw;
        }
    }
    c.ref.counted = true;
    c.life = std::make_shared<Reference>(c.ref, 0, true);  // counted by the server already
    return c;
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
    ref_.server = detail::random_nonzero_u64();
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

detail::Created Manager::create(detail::Kind kind, const std::string& tag, std::string_view name,
                                const Bytes& init) {
    if (shut_down_) throw Error("Manager: it was shut down; make a new one");
    Bytes& request = detail::start_request(ref_, detail::Op::create);
    detail::WireWriter(request)
        .u64(static_cast<std::uint64_t>(kind))
        .str(tag)
        .str(name)
        .field(init);
    if (name.empty()) return detail::create_counted(ref_, request);
    Bytes reply;
    auto r = detail::manager_call(ref_, request, reply, "Manager.create");
    detail::Created c{ref_, nullptr};
    c.ref.id = r.u64();
    return c;
}

std::size_t Manager::number_of_objects() {
    if (shut_down_) throw Error("Manager: it was shut down; make a new one");
    Bytes reply;
    return detail::manager_call(ref_, detail::start_request(ref_, detail::Op::count), reply,
                                "Manager.number_of_objects")
        .u64();
}

}  // namespace mp
