// mp/managers.hpp — Manager and its proxies (Python: multiprocessing.managers).
//
//     mp::Manager manager;                                  // starts a server process
//     auto d = manager.dict<std::string, int>();            // a proxy to a dict in the server
//     mp::Process p([d]() mutable { d.set("hits", d.get("hits", 0) + 1); });
//     p.start(); p.join();
//     int hits = d.get("hits");                             // 1
//
// When to use it: a Manager holds ordinary objects (a dict, a list, a queue, your own
// type) in one server process and lets any number of processes — forked, exec'd, or
// other programs on other machines — work on them through proxies. Every read is a
// round trip to the server (writes are pipelined, see below): a few microseconds to a
// server on this machine, whose connection thread and the calling thread each poll the
// Unix socket ~50 µs for the other's next message before sleeping (on one CPU they do not);
// tens of µs or more over TCP. So for numbers and arrays shared between processes of one
// program, mp::Value/Array and SharedMemory (memory access, nanoseconds) are far faster;
// use a Manager for structures that grow, for sharing between programs, or across machines.
//
// Proxies are handles: a proxy holds the server's address, the authkey and an object
// id — nothing else — so it can be copied, captured by a Process, passed as a Pool task
// argument, sent through a Connection or Queue, or written to another program (its
// serialized form contains the authkey: whoever gets a proxy can use the server).
// Each thread of each process talks to a server over its own connection, made on first
// use (TCP_NODELAY over TCP). After the manager shut down, every proxy call throws mp::Error.
//
// Pipelined writes: dict.set, list.append, list.extend and Value.set return as soon as
// the request is written to the server's socket — they do not wait for its answer —
// so a loop of writes costs one message each, not one round trip each. What stays as in
// Python: one thread's calls are applied in the order it made them, and every call that
// returns something (get, find, size, copy, pop, acquire, … any call but those four),
// from any thread or process, is answered only after the server applied every pipelined
// write that was sent before the call arrived, so no reader ever sees a value older than
// one a writer already "set" (e.g. a child sets, exits, the parent joins and reads: it
// sees the write). What differs: an error such a write causes (the manager shut down
// meanwhile, a stale proxy) is thrown by this thread's next call that returns something
// to that manager, which then does not run (nor do pipelined writes after the failed
// one); if the thread makes no further call, the error is lost. Two pipelined writes from
// different threads that no answering call separates are applied in the order the server
// reads them. Over a TCP address every call waits for its answer (the network gives no
// ordering between connections), and a server lets at most 64 connections pipeline
// (the others wait, as over TCP).
//
// Lifetime (Python's incref/decref per proxy): an unnamed object (manager.dict<K, V>(),
// list, Queue, …) lives while any process holds a proxy to it, and the server frees it
// when the last one, in any process, is dropped. Each process that holds proxies to a
// server keeps one connection to it for its references (copies of a proxy within a
// process share one reference, so copying costs nothing). A proxy that travels takes its
// reference along: written into a message (a Connection or Queue message, a Pool task
// argument, a spawn/forkserver Process argument) it puts a reference in flight that the
// reader takes over, so the writer may drop its proxy at once; a message that is never
// read holds the object until its writer's process ends. A forked child (a fork Process,
// a Pool worker) holds everything its parent held at the fork until it ends, as in
// Python: before each fork, a process that holds proxies opens that connection for the
// child (one handshake and one round trip per server). A process that ends, however it
// ends (SIGKILL included), drops its references with its connection. A call through a
// proxy whose object was freed (only a proxy rebuilt by hand can outlive it) →
// ValueError. manager.number_of_objects() says how many objects the server holds.
//
// Named objects: manager.dict<K, V>("jobs") makes the object on first use and returns
// the same one to everyone who asks for that name with the same type (another type →
// ValueError naming both); it lives until the server shuts down, whoever holds proxies.
// Manager::connect(address, authkey) joins a running server.
//
// Your own types (Python's BaseManager.register): register a type and the methods a
// client may call before the Manager starts (the server is a copy of this program):
//
//     mp::register_type<Counter>("Counter").method<&Counter::add>("add").method<&Counter::get>("get");
//     auto c = manager.make<Counter>("Counter");
//     c.call<&Counter::add>(5);                  // or c.call<int>("add", 5) from another program
//
// Security: the server runs only the operations of its built-in kinds and the methods
// registered by name; a request is data (an operation number, an object id, encoded
// values), never a code reference. Every length, index and id from a peer is checked.
// The authkey authenticates each connection by Python's challenge/response (see
// <mp/listener.hpp>); as in Python, the messages after it are not encrypted or MAC'd, so
// a manager on a TCP address must be reachable only through a trusted network (or a
// tunnel). The default address is a Unix socket in a fresh directory only this user
// can enter, and the default authkey 32 random bytes.
//
// Process and thread safety: every proxy may be used from any process and any thread;
// the server applies each operation atomically. The server is a forked mp::Process that runs one
// thread per connection and never forks; it ends when the Manager shuts down or when every process
// holding the Manager's creator side is gone. Locks held through a connection that closes (its
// process died) are released.
//
// Fork: the server is forked from the process that makes the Manager, so make it before
// that process starts threads of its own (as any mp::Process; see <mp/process.hpp>). The
// server then needs only the C library (malloc, sockets), which glibc keeps usable in a
// child forked from a threaded process, and none of the parent's other locks. Proxies
// start no thread in the calling process; they add pthread_atfork handlers that, in the
// parent before a fork, make the child's reference connections (see Lifetime) and, in
// the child, only move and close fds.
//
// Link: target mp::net (built when OpenSSL's libcrypto is found).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mp/detail/manager_registry.hpp"
#include "mp/detail/manager_wire.hpp"
#include "mp/errors.hpp"
#include "mp/listener.hpp"

namespace mp {

/// Where a Manager's server listens and with which key.
struct ManagerOptions {
    /// Default: a Unix socket in a new private directory (removed at shutdown).
    std::optional<Address> address;
    /// Default: 32 random bytes (every proxy carries it).
    std::optional<std::string> authkey;
};

namespace detail {
/// The part every proxy shares: the reference, and a call helper.
class ProxyBase {
  public:
    ProxyBase() = default;
    explicit ProxyBase(Created c) : ref_(std::move(c.ref)), life_(std::move(c.life)) {}
    /// The server's address.
    [[nodiscard]] const Address& address() const noexcept { return ref_.address; }
    friend bool operator==(const ProxyBase& a, const ProxyBase& b) {
        return a.ref_.server == b.ref_.server && a.ref_.id == b.ref_.id;
    }
    // Written into a message, a proxy puts a reference in flight (Reference::transit) that
    // the reader takes over, so the object lives even if the writer drops its proxy first.
    template <class Archive>
    void save(Archive& ar) const {
        std::uint64_t token = life_ ? life_->transit() : 0;
        ar(ref_, token);
    }
    template <class Archive>
    void load(Archive& ar) {
        std::uint64_t token = 0;
        ar(ref_, token);
        life_.reset();
        if (ref_.counted) life_ = std::make_shared<Reference>(ref_, token, false);
    }

  protected:
    // Builds the request with `fill(WireWriter&)`, sends it, returns the reply's reader.
    template <class Fill>
    WireReader call(Op op, const char* what, Bytes& reply, Fill&& fill) const {
        Bytes& request = start_request(ref_, op);
        WireWriter w(request);
        fill(w);
        return manager_call(ref_, request, reply, what);
    }
    // Builds the request and sends it without waiting for the answer (see "Pipelined
    // writes" at the top of this header).
    template <class Fill>
    void post(Op op, const char* what, Fill&& fill) const {
        Bytes& request = start_request(ref_, op);
        WireWriter w(request);
        fill(w);
        manager_post(ref_, request, what);
    }
    WireReader call(Op op, const char* what, Bytes& reply) const {
        return call(op, what, reply, [](WireWriter&) {});
    }
    std::uint64_t call_u64(Op op, const char* what) const {
        Bytes reply;
        return call(op, what, reply).u64();
    }
    ObjectRef ref_;
    std::shared_ptr<Reference> life_;  // shared by this process's copies (null: named)
};
}  // namespace detail

/// A proxy to a dict (std::map-like) held by a manager: Python's DictProxy.
template <class K, class V>
class DictProxy : public detail::ProxyBase {
  public:
    using ProxyBase::ProxyBase;
    /// Pipelined: returns once the request is sent (see the top of this header).
    void set(const K& k, const V& v) {
        post(detail::Op::dict_set, "dict.set", [&](auto& w) { w.value(k).value(v); });
    }
    /// The value at `k`; ValueError naming the key if it is absent.
    V get(const K& k) const {
        auto v = find(k);
        if (!v)
            throw ValueError("dict.get: key " + detail::describe_key(k) + " is not in the dict");
        return std::move(*v);
    }
    /// The value at `k`, or `fallback` if absent (Python's d.get(k, default)).
    V get(const K& k, const V& fallback) const { return find(k).value_or(fallback); }
    /// The value at `k`, or nullopt.
    std::optional<V> find(const K& k) const {
        Bytes r;
        auto rd = call(detail::Op::dict_get, "dict.get", r, [&](auto& w) { w.value(k); });
        if (rd.u64() == 0) return std::nullopt;
        return rd.template value<V>();
    }
    [[nodiscard]] bool contains(const K& k) const {
        Bytes r;
        return call(detail::Op::dict_contains, "dict.contains", r, [&](auto& w) {
                   w.value(k);
               }).u64() != 0;
    }
    /// Removes `k`; true if it was there.
    bool erase(const K& k) {
        Bytes r;
        return call(detail::Op::dict_erase, "dict.erase", r, [&](auto& w) { w.value(k); }).u64() !=
               0;
    }
    [[nodiscard]] std::size_t size() const { return call_u64(detail::Op::dict_size, "dict.size"); }
    void clear() { (void)call_u64(detail::Op::dict_clear, "dict.clear"); }
    /// A copy of the whole dict (Python's d.copy()).
    [[nodiscard]] std::map<K, V> copy() const {
        Bytes r;
        auto rd = call(detail::Op::dict_items, "dict.copy", r);
        std::map<K, V> out;
        for (std::uint64_t n = rd.u64(); n > 0; --n) {
            K k = rd.template value<K>();
            out.emplace(std::move(k), rd.template value<V>());
        }
        return out;
    }
    [[nodiscard]] std::vector<K> keys() const {
        std::vector<K> out;
        for (auto& [k, v] : copy()) out.push_back(k);
        return out;
    }
};

/// A proxy to a list (std::vector-like) held by a manager: Python's ListProxy. Indexes
/// may be negative, counting from the end, as in Python.
template <class T>
class ListProxy : public detail::ProxyBase {
  public:
    using ProxyBase::ProxyBase;
    /// Pipelined, as extend (see the top of this header).
    void append(const T& v) {
        post(detail::Op::list_append, "list.append", [&](auto& w) { w.value(v); });
    }
    void extend(const std::vector<T>& vs) {
        post(detail::Op::list_extend, "list.extend", [&](auto& w) {
            w.u64(vs.size());
            for (const T& v : vs) w.value(v);
        });
    }
    /// The item at `i`; ValueError naming the index and the size if out of range.
    T get(std::int64_t i) const {
        Bytes r;
        return call(detail::Op::list_get, "list.get", r, [&](auto& w) { w.i64(i); })
            .template value<T>();
    }
    void set(std::int64_t i, const T& v) {
        Bytes r;
        call(detail::Op::list_set, "list.set", r, [&](auto& w) { w.i64(i).value(v); });
    }
    /// Removes and returns the item at `i` (the last one by default).
    T pop(std::int64_t i = -1) {
        Bytes r;
        return call(detail::Op::list_pop, "list.pop", r, [&](auto& w) { w.i64(i); })
            .template value<T>();
    }
    [[nodiscard]] std::size_t size() const { return call_u64(detail::Op::list_size, "list.size"); }
    void clear() { (void)call_u64(detail::Op::list_clear, "list.clear"); }
    [[nodiscard]] std::vector<T> copy() const {
        Bytes r;
        auto rd = call(detail::Op::list_items, "list.copy", r);
        std::vector<T> out;
        for (std::uint64_t n = rd.u64(); n > 0; --n) out.push_back(rd.template value<T>());
        return out;
    }
};

/// A proxy to one value held by a manager: Python's manager.Value.
template <class T>
class ValueProxy : public detail::ProxyBase {
  public:
    using ProxyBase::ProxyBase;
    T get() const {
        Bytes r;
        return call(detail::Op::value_get, "Value.get", r).template value<T>();
    }
    /// Pipelined (see the top of this header).
    void set(const T& v) {
        post(detail::Op::value_set, "Value.set", [&](auto& w) { w.value(v); });
    }
};

/// A proxy to a queue held by a manager: as mp::Queue (put, get(timeout) → Empty).
template <class T>
class QueueProxy : public detail::ProxyBase {
  public:
    using ProxyBase::ProxyBase;
    /// Blocks while the queue is full (maxsize > 0).
    void put(const T& v) { put_impl(v, -1); }
    template <class Rep, class Period>
    void put(const T& v, std::chrono::duration<Rep, Period> timeout) {
        put_impl(v, detail::wire_timeout(timeout));
    }
    void put_nowait(const T& v) { put_impl(v, 0); }
    T get() { return get_impl(-1); }
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        return get_impl(detail::wire_timeout(timeout));
    }
    T get_nowait() { return get_impl(0); }
    [[nodiscard]] std::size_t qsize() const {
        return call_u64(detail::Op::queue_size, "Queue.qsize");
    }
    [[nodiscard]] bool empty() const { return qsize() == 0; }
    [[nodiscard]] bool full() const {
        std::size_t m = call_u64(detail::Op::queue_maxsize, "Queue.full");
        return m > 0 && qsize() >= m;
    }

  private:
    void put_impl(const T& v, std::int64_t timeout) {
        Bytes r;
        call(detail::Op::queue_put, "Queue.put", r, [&](auto& w) { w.value(v).i64(timeout); });
    }
    T get_impl(std::int64_t timeout) {
        Bytes r;
        return call(detail::Op::queue_get, "Queue.get", r, [&](auto& w) { w.i64(timeout); })
            .template value<T>();
    }
};

namespace detail {
/// acquire/release shared by the Lock, RLock, Condition and Semaphore proxies (Lockable).
class AcquireProxy : public ProxyBase {
  public:
    using ProxyBase::ProxyBase;
    bool acquire() { return acquire_impl(-1); }
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return acquire_impl(wire_timeout(timeout));
    }
    void release() { (void)call_u64(Op::release, "release"); }
    void lock() { (void)acquire(); }
    bool try_lock() { return acquire_impl(0); }
    void unlock() { release(); }

  private:
    bool acquire_impl(std::int64_t timeout) {
        Bytes r;
        return call(Op::acquire, "acquire", r, [&](auto& w) { w.i64(timeout); }).u64() != 0;
    }
};
}  // namespace detail

/// Python's manager.Lock(): one holder; release() of an unlocked lock → ValueError.
class LockProxy : public detail::AcquireProxy {
  public:
    using AcquireProxy::AcquireProxy;
};

/// Python's manager.RLock(): reentrant; owned by the thread (connection) that took it.
class RLockProxy : public detail::AcquireProxy {
  public:
    using AcquireProxy::AcquireProxy;
};

/// Python's manager.Semaphore(n).
class SemaphoreProxy : public detail::AcquireProxy {
  public:
    using AcquireProxy::AcquireProxy;
    void release(std::size_t n = 1) {
        Bytes r;
        call(detail::Op::sem_release, "Semaphore.release", r, [&](auto& w) { w.u64(n); });
    }
    void unlock() { release(); }
    [[nodiscard]] std::size_t get_value() const {
        return call_u64(detail::Op::sem_value, "Semaphore.get_value");
    }
};

/// Python's manager.Condition(): an RLock with wait/notify.
class ConditionProxy : public detail::AcquireProxy {
  public:
    using AcquireProxy::AcquireProxy;
    /// Releases the lock, waits for a notify, re-acquires; false on timeout.
    bool wait() { return wait_impl(-1); }
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_impl(detail::wire_timeout(timeout));
    }
    /// Waits until pred() (checked under the lock) holds.
    template <class Pred>
    bool wait_for(Pred pred) {
        while (!pred()) (void)wait();
        return true;
    }
    void notify(std::size_t n = 1) {
        Bytes r;
        call(detail::Op::cond_notify, "Condition.notify", r, [&](auto& w) { w.u64(n); });
    }
    void notify_all() { notify(SIZE_MAX); }

  private:
    bool wait_impl(std::int64_t timeout) {
        Bytes r;
        return call(detail::Op::cond_wait, "Condition.wait", r, [&](auto& w) {
                   w.i64(timeout);
               }).u64() != 0;
    }
};

/// Python's manager.Event().
class EventProxy : public detail::ProxyBase {
  public:
    using ProxyBase::ProxyBase;
    void set() { (void)call_u64(detail::Op::event_set, "Event.set"); }
    void clear() { (void)call_u64(detail::Op::event_clear, "Event.clear"); }
    [[nodiscard]] bool is_set() const {
        return call_u64(detail::Op::event_is_set, "Event.is_set") != 0;
    }
    bool wait() { return wait_impl(-1); }
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_impl(detail::wire_timeout(timeout));
    }

  private:
    bool wait_impl(std::int64_t timeout) {
        Bytes r;
        return call(detail::Op::event_wait, "Event.wait", r, [&](auto& w) {
                   w.i64(timeout);
               }).u64() != 0;
    }
};

/// Python's manager.Barrier(parties): wait() → an index in 0..parties-1;
/// BrokenBarrierError if broken (a timeout, abort(), reset() while waiting).
class BarrierProxy : public detail::ProxyBase {
  public:
    using ProxyBase::ProxyBase;
    std::size_t wait() { return wait_impl(-1); }
    template <class Rep, class Period>
    std::size_t wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_impl(detail::wire_timeout(timeout));
    }
    void abort() { (void)call_u64(detail::Op::barrier_abort, "Barrier.abort"); }
    void reset() { (void)call_u64(detail::Op::barrier_reset, "Barrier.reset"); }
    [[nodiscard]] std::size_t parties() const {
        return call_u64(detail::Op::barrier_parties, "Barrier.parties");
    }
    [[nodiscard]] std::size_t n_waiting() const {
        return call_u64(detail::Op::barrier_n_waiting, "Barrier.n_waiting");
    }
    [[nodiscard]] bool broken() const {
        return call_u64(detail::Op::barrier_broken, "Barrier.broken") != 0;
    }

  private:
    std::size_t wait_impl(std::int64_t timeout) {
        Bytes r;
        return call(detail::Op::barrier_wait, "Barrier.wait", r, [&](auto& w) { w.i64(timeout); })
            .u64();
    }
};

/// A proxy to an object of a registered type T (see register_type).
template <class T>
class Proxy : public detail::ProxyBase {
  public:
    using ProxyBase::ProxyBase;
    /// Calls the registered method M with `args` converted to its parameter types.
    template <auto M, class... A>
    auto call(A&&... args) {
        using Tr = detail::MemberTraits<decltype(M)>;
        const std::string& name = detail::method_name<M>();
        if (name.empty()) {
            throw ValueError("Proxy::call: this method of " +
                             detail::readable_type_name(detail::type_name<T>()) +
                             " was not registered in this program; register it with "
                             "mp::register_type<T>(…).method<&T::m>(\"m\")");
        }
        return call_named<typename Tr::Result>(name, typename Tr::Args(std::forward<A>(args)...));
    }
    /// Calls the method registered as `method` with exactly these argument types (the
    /// server checks them: SerializationError naming both if they differ).
    template <class R, class... A>
    R call(std::string_view method, const A&... args) {
        return call_named<R>(method, std::tuple<A...>(args...));
    }

  private:
    template <class R, class Tuple>
    R call_named(std::string_view method, const Tuple& args) {
        Bytes r;
        auto rd = ProxyBase::call(detail::Op::call, "call", r,
                                  [&](auto& w) { w.str(method).value(args); });
        if constexpr (std::is_void_v<R>) {
            return;
        } else {
            return rd.template value<R>();
        }
    }
};

namespace detail {
template <class T>
class TypeRegistration {
  public:
    explicit TypeRegistration(UserType& e) : entry_(e) {}
    /// Lets clients call member function M by `name`.
    template <auto M>
    TypeRegistration& method(std::string name) {
        static_assert(std::is_same_v<typename MemberTraits<decltype(M)>::Class, T>,
                      "register_type<T>().method<&T::m>: m must be a member function of T");
        method_name<M>() = name;
        entry_.methods[std::move(name)] = &invoke_method<M>;
        return *this;
    }

  private:
    UserType& entry_;
};
}  // namespace detail

/// Registers T (default-constructible) under `name` for every Manager started after this
/// call in this program, and for a server this program runs. Returns a builder for its
/// methods: register_type<T>("T").method<&T::f>("f")…; only those can be called.
template <class T>
detail::TypeRegistration<T> register_type(const std::string& name) {
    static_assert(std::is_default_constructible_v<T>,
                  "register_type<T>: T must be default-constructible");
    auto& e = detail::user_type_entry(name, detail::type_fingerprint<T>);
    e.make = [] { return std::static_pointer_cast<void>(std::make_shared<T>()); };
    return detail::TypeRegistration<T>(e);
}

/// Python's SyncManager: a server process holding shared objects, and the factory of
/// their proxies. Movable, not copyable.
class Manager {
  public:
    /// Starts a server process at a private Unix socket with a random key.
    Manager();
    /// Starts a server process at `options.address` with `options.authkey`. OSError if
    /// the address cannot be bound.
    explicit Manager(ManagerOptions options);
    /// Joins the server running at `address` (started by another program or machine).
    /// AuthenticationError if the key is wrong; mp::Error if nothing serves there.
    static Manager connect(const Address& address, const std::string& authkey);

    Manager(Manager&&) noexcept;
    Manager& operator=(Manager&&) noexcept;
    Manager(const Manager&) = delete;
    Manager& operator=(const Manager&) = delete;
    ~Manager();  ///< shutdown()

    /// Stops the server (if this Manager started it) and waits for it to end; after it
    /// every proxy call → mp::Error. For a connected Manager, only forgets the server.
    /// A second call does nothing.
    void shutdown();

    /// Where the server listens (for TCP port 0, the port it got).
    [[nodiscard]] const Address& address() const noexcept { return ref_.address; }
    /// The key clients must present.
    [[nodiscard]] const std::string& authkey() const noexcept { return ref_.authkey; }
    /// How many objects the server holds now, named ones included (Python's
    /// BaseManager._number_of_objects; for tests and leak hunting).
    [[nodiscard]] std::size_t number_of_objects();

    /// A new dict, or the one named `name` (made on first use).
    template <class K, class V>
    DictProxy<K, V> dict(std::string_view name = {}) {
        return DictProxy<K, V>(create(detail::Kind::dict, tag<std::map<K, V>>("dict"), name));
    }
    template <class T>
    ListProxy<T> list(std::string_view name = {}) {
        return ListProxy<T>(create(detail::Kind::list, tag<std::vector<T>>("list"), name));
    }
    template <class T>
    ValueProxy<T> Value(const T& initial, std::string_view name = {}) {
        Bytes init;
        detail::WireWriter(init).value(initial);
        return ValueProxy<T>(create(detail::Kind::value, tag<T>("Value"), name, init));
    }
    /// maxsize 0: unbounded.
    template <class T>
    QueueProxy<T> Queue(std::size_t maxsize = 0, std::string_view name = {}) {
        return QueueProxy<T>(create(detail::Kind::queue, tag<T>("Queue"), name, number(maxsize)));
    }
    LockProxy Lock(std::string_view name = {}) {
        return LockProxy(create(detail::Kind::lock, "Lock", name));
    }
    RLockProxy RLock(std::string_view name = {}) {
        return RLockProxy(create(detail::Kind::rlock, "RLock", name));
    }
    EventProxy Event(std::string_view name = {}) {
        return EventProxy(create(detail::Kind::event, "Event", name));
    }
    ConditionProxy Condition(std::string_view name = {}) {
        return ConditionProxy(create(detail::Kind::condition, "Condition", name));
    }
    SemaphoreProxy Semaphore(std::size_t value = 1, std::string_view name = {}) {
        return SemaphoreProxy(create(detail::Kind::semaphore, "Semaphore", name, number(value)));
    }
    BarrierProxy Barrier(std::size_t parties, std::string_view name = {}) {
        if (parties == 0) throw ValueError("Manager.Barrier: parties must be at least 1");
        return BarrierProxy(create(detail::Kind::barrier, "Barrier", name, number(parties)));
    }
    /// A new object of the type registered as `type_name` (see register_type), or the one
    /// named `name`.
    template <class T>
    Proxy<T> make(const std::string& type_name, std::string_view name = {}) {
        return Proxy<T>(create(detail::Kind::user, type_name, name));
    }

  private:
    struct Server;  // the server process this Manager started
    Manager(detail::ObjectRef ref, std::unique_ptr<Server> server);
    template <class T>
    static std::string tag(const char* kind) {
        return std::string(kind) + "<" + detail::readable_type_name(detail::type_name<T>()) + ">";
    }
    static Bytes number(std::uint64_t n) {
        Bytes b;
        detail::WireWriter(b).u64(n);
        return b;
    }
    detail::Created create(detail::Kind kind, const std::string& tag, std::string_view name,
                           const Bytes& init = {});

    detail::ObjectRef ref_;  // id 0: the manager itself
    std::unique_ptr<Server> server_;
    bool shut_down_ = false;
};

}  // namespace mp
