// The manager's server: one thread per connection, one mutex over all objects, a
// condition variable per object for the blocking operations.
#include "manager_server.hpp"

#include <arpa/inet.h>
#include <endian.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "../system.hpp"
#include "handshake.hpp"
#include "mp/detail/manager_registry.hpp"
#include "mp/detail/manager_wire.hpp"
#include "mp/detail/park.hpp"

namespace mp::detail {

namespace {

constexpr std::size_t kMaxConnections = 1024;
constexpr std::size_t kMaxObjects = std::size_t{1} << 24;
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxPipeliners = 64;  // connections allowed to send without waiting
constexpr std::uint64_t kMaxRequest = std::uint64_t{1} << 40;
// How long an answering call waits for other connections' earlier pipelined writes
// before it goes ahead anyway (only a peer that stalls mid-message gets near it).
constexpr auto kDrainLimit = std::chrono::seconds(5);
// How long a connection's thread polls its Unix socket for the next call before it sleeps
// in read(): a client's next call follows our answer within a few µs when it makes calls in
// a row, and a sleep and wake-up on another CPU costs ~25 µs each way here. A thread whose
// spins keep failing stops spinning for a while (spin_until_readable's policy).
constexpr auto kCallSpin = std::chrono::microseconds(50);

// One client connection. A pipelining one (it asked with Op::pipeline) counts the bytes
// its thread read and those it finished, so that an answering call on another connection
// can wait until everything this one had sent before was applied.
struct Conn : std::enable_shared_from_this<Conn> {
    int fd = -1;
    std::uint64_t id = 0;
    std::mutex read_mu;                  // held around a read and the update of `read`
    std::uint64_t read = 0;              // bytes taken from the socket (under read_mu)
    std::atomic<std::uint64_t> done{0};  // bytes of the messages applied (or answered)
    bool closed = false;                 // under Server::drain_mu_
    bool pipelining = false;             // set by its own thread (Op::pipeline accepted)
    // References (under Server::mu_): the unnamed objects this connection holds, and the
    // tokens of references it wrote into messages that nobody adopted yet.
    std::set<std::uint64_t> held;
    std::set<std::uint64_t> tokens;
};

struct Object {
    Kind kind;
    std::string tag;
    std::condition_variable cv;
    std::unordered_map<std::string, Bytes> dict;  // key: the key's frame bytes
    std::vector<Bytes> list;
    Bytes value;
    std::deque<Bytes> queue;
    std::uint64_t limit = 0;  // Queue maxsize, Semaphore value, Barrier parties
    std::uint64_t owner = 0;  // Lock/RLock/Condition: the holding connection (0: free)
    std::uint64_t count = 0;  // RLock depth
    bool flag = false;        // Event
    std::deque<std::shared_ptr<bool>> waiters;  // Condition: one ticket per waiter
    std::uint64_t arrived = 0, generation = 0, reset_generation = UINT64_MAX;  // Barrier
    bool broken = false;
    std::shared_ptr<void> user;  // a registered type's object
    const UserType* type = nullptr;
    std::mutex user_mutex;   // calls on a user object run one at a time, outside the big lock
    bool named = false;      // lives until shutdown; otherwise while `refs` > 0
    std::uint64_t refs = 0;  // connections holding it + tokens in flight
};

// A reference written into a message (a proxy that travels) and not adopted yet.
struct Transit {
    std::uint64_t id;
    Conn* writer;  // its `tokens` has this token (under Server::mu_)
};

std::string key_of(std::span<const std::byte> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::dict:
            return "dict";
        case Kind::list:
            return "list";
        case Kind::value:
            return "Value";
        case Kind::queue:
            return "Queue";
        case Kind::lock:
            return "Lock";
        case Kind::rlock:
            return "RLock";
        case Kind::event:
            return "Event";
        case Kind::condition:
            return "Condition";
        case Kind::semaphore:
            return "Semaphore";
        case Kind::barrier:
            return "Barrier";
        case Kind::user:
            return "registered type";
    }
    return "object";
}

class Server {
  public:
    Server(std::string key, std::uint64_t id, bool spin)
        : key_(std::move(key)), id_(id), spin_(spin) {
        wake_ = check(::eventfd(0, EFD_CLOEXEC), "manager: eventfd");
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server() { close_fd(wake_); }

    void run(int listen_fd, int lifeline_fd);

  private:
    void serve(int fd, std::uint64_t conn);
    void serve_messages(const std::shared_ptr<Conn>& conn, Connection& c);
    void handle(Conn& conn, std::uint64_t server, std::uint64_t id, Op op, WireReader& in,
                WireWriter& out);
    void manager_op(Conn& conn, Op op, WireReader& in, WireWriter& out);
    void await_pipelined(const Conn& me);
    void add_pipeliner(const std::shared_ptr<Conn>& conn, WireWriter& out);
    void drop_pipeliner(Conn& conn);
    void advance(Conn& conn, std::uint64_t done);
    void object_op(std::uint64_t conn, Object& o, Op op, WireReader& in, WireWriter& out,
                   std::unique_lock<std::mutex>& lk);
    std::shared_ptr<Object> object(std::uint64_t id, Op op);
    void release_held_by(std::uint64_t conn);
    void reference_op(Conn& conn, Op op, WireReader& in, WireWriter& out);
    void unref(std::uint64_t id);
    void drop_references(Conn& conn);
    void stop();
    template <class Pred>
    bool wait(std::unique_lock<std::mutex>& lk, Object& o, std::int64_t timeout_ns, Pred pred);

    std::string key_;
    std::uint64_t id_;
    bool spin_;      // on a Unix socket: a connection's thread spins a while for its next call
    int wake_ = -1;  // eventfd: a shutdown request wakes the accept loop
    std::mutex mu_;
    bool stopping_ = false;
    std::unordered_map<std::uint64_t, std::shared_ptr<Object>> objects_;
    std::uint64_t next_id_ = 0;
    std::unordered_map<std::uint64_t, Transit> transits_;  // by token
    std::map<std::string, std::uint64_t, std::less<>> names_;
    std::set<int> conns_;
    std::size_t active_ = 0;
    std::condition_variable idle_;
    std::atomic<bool> stopping_flag_{false};  // stopping_, readable without mu_
    // Pipelining connections (see Conn). drain_mu_ guards the list and Conn::closed.
    std::mutex drain_mu_;
    std::condition_variable drained_;
    std::vector<std::shared_ptr<Conn>> pipeliners_;
    std::atomic<std::size_t> n_pipeliners_{0};
    std::atomic<std::size_t> drain_waiters_{0};
};

template <class Pred>
bool Server::wait(std::unique_lock<std::mutex>& lk, Object& o, std::int64_t timeout_ns, Pred pred) {
    auto done = [&] { return stopping_ || pred(); };
    if (timeout_ns < 0) {
        o.cv.wait(lk, done);
    } else {
        o.cv.wait_for(lk, std::chrono::nanoseconds(timeout_ns), done);
    }
    if (stopping_) throw Error("manager: the server is shutting down");
    return pred();
}

std::shared_ptr<Object> Server::object(std::uint64_t id, Op op) {
    auto it = objects_.find(id);
    if (it == objects_.end()) {
        throw ValueError("manager: no object with id " + std::to_string(id) + " (for operation " +
                         std::to_string(static_cast<std::uint32_t>(op)) +
                         "): it was freed when the last proxy to it was dropped");
    }
    return it->second;
}

// A reference is dropped: frees the object when it was the last (named ones stay).
void Server::unref(std::uint64_t id) {
    auto it = objects_.find(id);
    if (it == objects_.end() || it->second->named) return;
    if (--it->second->refs == 0) {
        it->second->cv.notify_all();  // (nobody waits: a waiter's process holds a reference)
        objects_.erase(it);
    }
}

// Reference counting (see "Lifetime" in <mp/managers.hpp>). A connection holds an object
// at most once (its process counts its own proxies); a token is one reference in flight.
void Server::reference_op(Conn& conn, Op op, WireReader& in, WireWriter& out) {
    std::lock_guard lk(mu_);
    if (op == Op::count) {
        out.u64(objects_.size());
        return;
    }
    auto hold = [&](std::uint64_t id) {
        auto it = objects_.find(id);
        if (it == objects_.end() || it->second->named) return;
        if (conn.held.insert(id).second) ++it->second->refs;
    };
    if (op == Op::hold) {  // a forked child's references, made by its parent before the fork
        for (std::uint64_t n = in.u64(); n > 0; --n) hold(in.u64());
        out.u64(0);
        return;
    }
    std::uint64_t id = in.u64();
    switch (op) {
        case Op::incref:
            hold(id);
            break;
        case Op::decref:
            if (conn.held.erase(id) > 0) unref(id);
            break;
        case Op::transit: {
            std::uint64_t token = in.u64();
            auto it = objects_.find(id);
            if (it == objects_.end() || it->second->named || transits_.count(token) > 0) break;
            ++it->second->refs;
            transits_.emplace(token, Transit{id, &conn});
            conn.tokens.insert(token);
            break;
        }
        case Op::adopt: {
            std::uint64_t token = in.u64();
            auto t = transits_.find(token);
            if (t == transits_.end() || t->second.id != id) {  // not (or no longer) in flight
                hold(id);
                break;
            }
            t->second.writer->tokens.erase(token);
            transits_.erase(t);
            if (conn.held.insert(id).second) break;  // the token's reference is now ours
            unref(id);                               // we held it already
            break;
        }
        default:
            throw ValueError("manager: unknown operation on the manager");
    }
    out.u64(0);
}

// A connection closed (its process ended, or was killed): its references go.
void Server::drop_references(Conn& conn) {
    std::lock_guard lk(mu_);
    for (std::uint64_t token : conn.tokens) {
        auto t = transits_.find(token);
        if (t == transits_.end()) continue;
        std::uint64_t id = t->second.id;
        transits_.erase(t);
        unref(id);
    }
    conn.tokens.clear();
    for (std::uint64_t id : conn.held) unref(id);
    conn.held.clear();
}

void Server::manager_op(Conn& conn, Op op, WireReader& in, WireWriter& out) {
    if (op == Op::hello) {
        out.u64(id_);
        return;
    }
    if (op == Op::pipeline) {
        add_pipeliner(conn.shared_from_this(), out);
        return;
    }
    if (op == Op::shutdown) {
        stop();
        return;
    }
    if (op >= Op::incref && op <= Op::count) return reference_op(conn, op, in, out);
    if (op != Op::create) throw ValueError("manager: unknown operation on the manager");
    auto kind_num = in.u64();
    if (kind_num < 1 || kind_num > static_cast<std::uint64_t>(Kind::user))
        throw ValueError("manager.create: unknown kind " + std::to_string(kind_num));
    auto kind = static_cast<Kind>(kind_num);
    std::string tag = in.str();
    std::string name = in.str();
    auto init = in.field();
    std::lock_guard lk(mu_);
    if (!name.empty()) {
        if (auto it = names_.find(name); it != names_.end()) {
            Object& o = *objects_.at(it->second);
            if (o.kind != kind || o.tag != tag) {
                throw ValueError("manager: the object named '" + name + "' is a " + o.tag +
                                 ", not a " + tag);
            }
            out.u64(it->second);
            return;
        }
    }
    if (objects_.size() >= kMaxObjects)
        throw ValueError("manager: too many objects (" + std::to_string(kMaxObjects) + ")");
    auto o = std::make_shared<Object>();
    o->kind = kind;
    o->tag = tag;
    WireReader ir(init);
    switch (kind) {
        case Kind::value: {
            auto f = ir.field();
            o->value.assign(f.begin(), f.end());
            break;
        }
        case Kind::queue:
        case Kind::semaphore:
        case Kind::barrier:
            o->limit = ir.u64();
            if (kind == Kind::barrier && o->limit == 0)
                throw ValueError("manager.Barrier: parties must be at least 1");
            break;
        case Kind::user:
            o->type = find_user_type(tag);
            if (o->type == nullptr) {
                throw ValueError("manager: no type is registered as '" + tag +
                                 "' in the server's program; call mp::register_type<T>(\"" + tag +
                                 "\") before the Manager starts");
            }
            o->user = o->type->make();
            break;
        default:
            break;
    }
    std::uint64_t id = ++next_id_;
    if (name.empty()) {  // the creating connection holds the first reference
        o->refs = 1;
        conn.held.insert(id);
    } else {
        o->named = true;
        names_.emplace(name, id);
    }
    objects_.emplace(id, std::move(o));
    out.u64(id);
}

// Python-style index: -n..n-1; ValueError naming the index and the size otherwise.
std::size_t checked_index(std::int64_t i, std::size_t n, const char* what) {
    auto sn = static_cast<std::int64_t>(n);
    std::int64_t j = i < 0 ? i + sn : i;
    if (j < 0 || j >= sn) {
        throw ValueError(std::string(what) + ": index " + std::to_string(i) +
                         " is out of range for a list of " + std::to_string(n) + " items");
    }
    return static_cast<std::size_t>(j);
}

void require_kind(const Object& o, std::initializer_list<Kind> kinds, Op op) {
    for (Kind k : kinds)
        if (o.kind == k) return;
    throw ValueError("manager: operation " + std::to_string(static_cast<std::uint32_t>(op)) +
                     " does not apply to a " + kind_name(o.kind));
}

void Server::object_op(std::uint64_t conn, Object& o, Op op, WireReader& in, WireWriter& out,
                       std::unique_lock<std::mutex>& lk) {
    auto num = static_cast<std::uint32_t>(op);
    auto field_bytes = [&] {
        auto f = in.field();
        return Bytes(f.begin(), f.end());
    };
    if (num >= 100 && num < 200) {
        require_kind(o, {Kind::dict}, op);
        switch (op) {
            case Op::dict_set: {
                std::string k = key_of(in.field());
                o.dict[std::move(k)] = field_bytes();
                return;
            }
            case Op::dict_get: {
                auto it = o.dict.find(key_of(in.field()));
                out.u64(it != o.dict.end());
                if (it != o.dict.end()) out.field(it->second);
                return;
            }
            case Op::dict_contains:
                out.u64(o.dict.count(key_of(in.field())));
                return;
            case Op::dict_erase:
                out.u64(o.dict.erase(key_of(in.field())));
                return;
            case Op::dict_size:
                out.u64(o.dict.size());
                return;
            case Op::dict_clear:
                o.dict.clear();
                out.u64(0);
                return;
            case Op::dict_items:
                out.u64(o.dict.size());
                for (auto& [k, v] : o.dict)
                    out.field(std::as_bytes(std::span(k.data(), k.size()))).field(v);
                return;
            default:
                break;
        }
    } else if (num >= 200 && num < 300) {
        require_kind(o, {Kind::list}, op);
        switch (op) {
            case Op::list_append:
                o.list.push_back(field_bytes());
                return;
            case Op::list_extend: {
                std::uint64_t n = in.u64();
                std::vector<Bytes> items;
                for (std::uint64_t i = 0; i < n; ++i)
                    items.push_back(field_bytes());  // checked by field()
                for (auto& b : items) o.list.push_back(std::move(b));
                return;
            }
            case Op::list_get:
                out.field(o.list[checked_index(in.i64(), o.list.size(), "list.get")]);
                return;
            case Op::list_set: {
                std::size_t i = checked_index(in.i64(), o.list.size(), "list.set");
                o.list[i] = field_bytes();
                return;
            }
            case Op::list_pop: {
                std::size_t i = checked_index(in.i64(), o.list.size(), "list.pop");
                out.field(o.list[i]);
                o.list.erase(o.list.begin() + static_cast<std::ptrdiff_t>(i));
                return;
            }
            case Op::list_size:
                out.u64(o.list.size());
                return;
            case Op::list_clear:
                o.list.clear();
                out.u64(0);
                return;
            case Op::list_items:
                out.u64(o.list.size());
                for (auto& v : o.list) out.field(v);
                return;
            default:
                break;
        }
    } else if (op == Op::value_get || op == Op::value_set) {
        require_kind(o, {Kind::value}, op);
        if (op == Op::value_get)
            out.field(o.value);
        else
            o.value = field_bytes();
        return;
    } else if (num >= 400 && num < 500) {
        require_kind(o, {Kind::queue}, op);
        switch (op) {
            case Op::queue_put: {
                Bytes item = field_bytes();
                std::int64_t t = in.i64();
                if (o.limit > 0 && !wait(lk, o, t, [&] { return o.queue.size() < o.limit; }))
                    throw Full("Queue.put: the queue stayed full (maxsize " +
                               std::to_string(o.limit) + ")");
                o.queue.push_back(std::move(item));
                o.cv.notify_all();
                return;
            }
            case Op::queue_get: {
                std::int64_t t = in.i64();
                if (!wait(lk, o, t, [&] { return !o.queue.empty(); }))
                    throw Empty("Queue.get: the queue stayed empty");
                out.field(o.queue.front());
                o.queue.pop_front();
                o.cv.notify_all();
                return;
            }
            case Op::queue_size:
                out.u64(o.queue.size());
                return;
            case Op::queue_maxsize:
                out.u64(o.limit);
                return;
            default:
                break;
        }
    } else if (op == Op::acquire || op == Op::release || op == Op::sem_release ||
               op == Op::sem_value) {
        require_kind(o, {Kind::lock, Kind::rlock, Kind::condition, Kind::semaphore}, op);
        if (o.kind == Kind::semaphore) {
            if (op == Op::acquire) {
                bool got = wait(lk, o, in.i64(), [&] { return o.limit > 0; });
                if (got) --o.limit;
                out.u64(got);
            } else if (op == Op::sem_value) {
                out.u64(o.limit);
            } else {
                std::uint64_t n = op == Op::release ? 1 : in.u64();
                if (n > (std::uint64_t{1} << 32) || o.limit + n > (std::uint64_t{1} << 40))
                    throw ValueError("Semaphore.release: " + std::to_string(n) + " is too many");
                o.limit += n;
                o.cv.notify_all();
                out.u64(0);
            }
            return;
        }
        if (op == Op::sem_release || op == Op::sem_value) require_kind(o, {Kind::semaphore}, op);
        bool reentrant = o.kind != Kind::lock;
        if (op == Op::acquire) {
            std::int64_t t = in.i64();
            if (reentrant && o.owner == conn) {
                ++o.count;
                out.u64(1);
                return;
            }
            bool got = wait(lk, o, t, [&] { return o.owner == 0; });
            if (got) {
                o.owner = conn;
                o.count = 1;
            }
            out.u64(got);
            return;
        }
        if (o.owner == 0)
            throw ValueError(std::string(kind_name(o.kind)) + ".release: it is not held");
        if (reentrant && o.owner != conn) {
            throw ValueError(std::string(kind_name(o.kind)) +
                             ".release: held by another thread or process, not by this one");
        }
        if (!reentrant || --o.count == 0) {
            o.owner = 0;
            o.count = 0;
            o.cv.notify_all();
        }
        out.u64(0);
        return;
    } else if (num >= 600 && num < 700) {
        require_kind(o, {Kind::event}, op);
        switch (op) {
            case Op::event_set:
                o.flag = true;
                o.cv.notify_all();
                out.u64(0);
                return;
            case Op::event_clear:
                o.flag = false;
                out.u64(0);
                return;
            case Op::event_is_set:
                out.u64(o.flag);
                return;
            case Op::event_wait:
                out.u64(wait(lk, o, in.i64(), [&] { return o.flag; }));
                return;
            default:
                break;
        }
    } else if (op == Op::cond_wait || op == Op::cond_notify) {
        require_kind(o, {Kind::condition}, op);
        if (o.owner != conn) {
            throw ValueError(op == Op::cond_wait ? "Condition.wait: acquire the condition first"
                                                 : "Condition.notify: acquire the condition first");
        }
        if (op == Op::cond_notify) {
            std::uint64_t n = in.u64();
            for (; n > 0 && !o.waiters.empty(); --n) {
                *o.waiters.front() = true;
                o.waiters.pop_front();
            }
            o.cv.notify_all();
            out.u64(0);
            return;
        }
        std::int64_t t = in.i64();
        std::uint64_t depth = o.count;
        o.owner = 0;
        o.count = 0;
        auto ticket = std::make_shared<bool>(false);
        o.waiters.push_back(ticket);
        o.cv.notify_all();
        bool notified = false;
        try {
            notified = wait(lk, o, t, [&] { return *ticket; });
        } catch (...) {
            std::erase(o.waiters, ticket);
            throw;
        }
        if (!notified) std::erase(o.waiters, ticket);
        (void)wait(lk, o, -1, [&] { return o.owner == 0; });
        o.owner = conn;
        o.count = depth;
        out.u64(notified);
        return;
    } else if (num >= 900 && num < 1000) {
        require_kind(o, {Kind::barrier}, op);
        switch (op) {
            case Op::barrier_wait: {
                std::int64_t t = in.i64();
                if (o.broken) throw BrokenBarrierError("Barrier.wait: the barrier is broken");
                std::uint64_t gen = o.generation;
                std::uint64_t index = o.arrived++;
                if (o.arrived == o.limit) {
                    o.arrived = 0;
                    ++o.generation;
                    o.cv.notify_all();
                    out.u64(index);
                    return;
                }
                bool passed = wait(lk, o, t, [&] { return o.generation != gen || o.broken; });
                if (passed && o.generation != gen && o.reset_generation != gen) {
                    out.u64(index);
                    return;
                }
                if (!passed) {  // our timeout breaks it for everyone, as in Python
                    o.broken = true;
                    o.arrived = 0;
                    o.cv.notify_all();
                }
                throw BrokenBarrierError("Barrier.wait: the barrier was broken, aborted or reset");
            }
            case Op::barrier_abort:
                o.broken = true;
                o.arrived = 0;
                o.cv.notify_all();
                out.u64(0);
                return;
            case Op::barrier_reset:
                if (o.arrived > 0) {
                    o.reset_generation = o.generation;
                    ++o.generation;
                }
                o.arrived = 0;
                o.broken = false;
                o.cv.notify_all();
                out.u64(0);
                return;
            case Op::barrier_parties:
                out.u64(o.limit);
                return;
            case Op::barrier_n_waiting:
                out.u64(o.arrived);
                return;
            case Op::barrier_broken:
                out.u64(o.broken);
                return;
            default:
                break;
        }
    }
    throw ValueError("manager: unknown operation " + std::to_string(num));
}

void Server::handle(Conn& conn, std::uint64_t server, std::uint64_t id, Op op, WireReader& in,
                    WireWriter& out) {
    if (server != id_ && !(server == 0 && op == Op::hello)) {
        throw Error(
            "manager: this proxy belongs to a manager that is no longer running at this "
            "address (it shut down and another one started)");
    }
    if (id == 0) return manager_op(conn, op, in, out);
    if (op == Op::call) {
        std::shared_ptr<void> target;
        const UserType::Method* method = nullptr;
        Object* o = nullptr;
        std::shared_ptr<Object> held;  // alive while the call runs, even if it is freed
        {
            std::lock_guard lk(mu_);
            held = object(id, op);
            o = held.get();
            require_kind(*o, {Kind::user}, op);
            std::string name = in.str();
            auto it = o->type->methods.find(name);
            if (it == o->type->methods.end()) {
                throw ValueError("manager: " + o->tag + " has no registered method '" + name + "'");
            }
            method = &it->second;
            target = o->user;
        }
        auto args = in.field();
        std::lock_guard ulk(o->user_mutex);
        Bytes result;
        (*method)(target.get(), args, result);
        out.field(result);
        return;
    }
    std::unique_lock lk(mu_);
    std::shared_ptr<Object> o = object(id, op);  // alive while the call waits, even if freed
    object_op(conn.id, *o, op, in, out, lk);
}

void Server::release_held_by(std::uint64_t conn) {
    std::lock_guard lk(mu_);
    for (auto& [id, o] : objects_) {
        if (o->owner == conn &&
            (o->kind == Kind::lock || o->kind == Kind::rlock || o->kind == Kind::condition)) {
            o->owner = 0;
            o->count = 0;
            o->cv.notify_all();
        }
    }
}

void Server::add_pipeliner(const std::shared_ptr<Conn>& conn, WireWriter& out) {
    std::lock_guard lk(drain_mu_);
    if (std::find(pipeliners_.begin(), pipeliners_.end(), conn) != pipeliners_.end()) {
        out.u64(1);
        return;
    }
    if (pipeliners_.size() >= kMaxPipeliners) {  // the client stays synchronous
        out.u64(0);
        return;
    }
    {
        std::lock_guard rl(conn->read_mu);
        conn->done.store(conn->read, std::memory_order_seq_cst);  // all it sent is answered
    }
    pipeliners_.push_back(conn);
    conn->pipelining = true;
    n_pipeliners_.fetch_add(1, std::memory_order_seq_cst);
    out.u64(1);
}

// Marks `conn`'s bytes up to `done` as applied and wakes the threads waiting for it.
void Server::advance(Conn& conn, std::uint64_t done) {
    if (conn.done.exchange(done, std::memory_order_seq_cst) == done) return;
    if (drain_waiters_.load(std::memory_order_seq_cst) > 0) {
        std::lock_guard lk(drain_mu_);
        drained_.notify_all();
    }
}

void Server::drop_pipeliner(Conn& conn) {
    std::lock_guard lk(drain_mu_);
    conn.closed = true;  // before the fd closes: await_pipelined reads it only under drain_mu_
    auto it = std::find_if(pipeliners_.begin(), pipeliners_.end(),
                           [&](const auto& p) { return p.get() == &conn; });
    if (it != pipeliners_.end()) {
        pipeliners_.erase(it);
        n_pipeliners_.fetch_sub(1, std::memory_order_seq_cst);
    }
    drained_.notify_all();
}

// Before a call that answers: every pipelined write another connection had sent before
// this call arrived (in the socket, or read and not yet applied) is applied first. A
// write that causally precedes this call (its sender returned, then told our client) is
// in one of those two places, so an answer never misses it. The waited-for threads only
// apply pipelined writes, which never block, so this cannot deadlock.
void Server::await_pipelined(const Conn& me) {
    if (n_pipeliners_.load(std::memory_order_seq_cst) == 0) return;
    std::unique_lock lk(drain_mu_);
    auto deadline = std::chrono::steady_clock::now() + kDrainLimit;
    std::vector<std::pair<std::shared_ptr<Conn>, std::uint64_t>> targets;
    for (const auto& p : pipeliners_) {
        if (p.get() == &me || p->closed) continue;
        std::lock_guard rl(p->read_mu);
        int queued = 0;
        if (::ioctl(p->fd, FIONREAD, &queued) != 0) queued = 0;
        std::uint64_t target = p->read + static_cast<std::uint64_t>(std::max(queued, 0));
        if (p->done.load(std::memory_order_seq_cst) < target) targets.emplace_back(p, target);
    }
    if (targets.empty()) return;
    // Counted before each check of `done`: a thread that then advances `done` sees the
    // count and notifies (under drain_mu_), so no wakeup is lost.
    drain_waiters_.fetch_add(1, std::memory_order_seq_cst);
    for (auto& [p, target] : targets) {
        while (!p->closed && p->done.load(std::memory_order_seq_cst) < target &&
               !stopping_flag_.load()) {
            if (drained_.wait_until(lk, deadline) == std::cv_status::timeout) break;
        }
    }
    drain_waiters_.fetch_sub(1, std::memory_order_seq_cst);
}

namespace {

Status status_of(const std::exception& e) {
    if (dynamic_cast<const ValueError*>(&e)) return Status::value_error;
    if (dynamic_cast<const Empty*>(&e)) return Status::empty;
    if (dynamic_cast<const Full*>(&e)) return Status::full;
    if (dynamic_cast<const BrokenBarrierError*>(&e)) return Status::broken_barrier;
    if (dynamic_cast<const SerializationError*>(&e)) return Status::serialization;
    if (!dynamic_cast<const Error*>(&e)) return Status::remote;
    return Status::error;
}

// The error response for `e` (the exception being handled), `prefix` before its message.
void error_reply(const std::exception& e, Bytes& reply, std::string_view prefix = {}) {
    Status st = status_of(e);
    reply.assign(1, static_cast<std::byte>(st));
    WireWriter out(reply);
    if (st == Status::remote) out.str(current_exception_type_name());
    out.str(std::string(prefix) + e.what());
}

// The length of the Python-framed message at the front of `b`: prefix and body sizes, or
// nullopt if its prefix is incomplete. SerializationError for a corrupt length.
std::optional<std::pair<std::size_t, std::uint64_t>> message_size(std::span<const std::byte> b) {
    if (b.size() < 4) return std::nullopt;
    std::uint32_t be = 0;
    std::memcpy(&be, b.data(), 4);
    auto len = static_cast<std::int32_t>(ntohl(be));
    if (len >= 0) return std::pair<std::size_t, std::uint64_t>{4, static_cast<std::uint64_t>(len)};
    if (len != -1) throw SerializationError("manager: a request announced a negative length");
    if (b.size() < 12) return std::nullopt;
    std::uint64_t big = 0;
    std::memcpy(&big, b.data() + 4, 8);
    big = be64toh(big);
    if (big > kMaxRequest) throw SerializationError("manager: a request longer than 1 TiB");
    return std::pair<std::size_t, std::uint64_t>{12, big};
}

}  // namespace

void Server::serve(int fd, std::uint64_t conn_id) {
    try {
        auto deadline = net::Clock::now() + kHandshakeTimeout;
        net::deliver_challenge(fd, key_, deadline);
        net::answer_challenge(fd, key_, deadline);
    } catch (const Error&) {  // not a client that knows the key: drop it
        std::lock_guard lk(mu_);
        conns_.erase(fd);
        close_fd(fd);
        if (--active_ == 0) idle_.notify_all();
        return;
    }
    auto conn = std::make_shared<Conn>();
    conn->fd = fd;
    conn->id = conn_id;
    Connection c = Connection::from_fd(fd, Connection::Framing::python);  // for replies
    try {
        serve_messages(conn, c);
    } catch (const std::exception&) {  // a corrupt length, or out of memory: drop it
    }
    drop_pipeliner(*conn);
    release_held_by(conn_id);
    drop_references(*conn);
    std::lock_guard lk(mu_);
    conns_.erase(fd);
    c.close();
    if (--active_ == 0) idle_.notify_all();
}

// Reads requests into one buffer (a burst of pipelined writes costs one read) and runs
// each: a pipelined one (kNoReply) gets no answer; an error it raises is kept and
// answers the connection's next answering call instead of running it.
void Server::serve_messages(const std::shared_ptr<Conn>& conn, Connection& c) {
    constexpr std::size_t kInitial = 4096;
    Bytes buf(kInitial);
    std::size_t head = 0, tail = 0;
    Bytes reply, discard;
    std::optional<Bytes> deferred;  // a pipelined call's error response
    for (;;) {
        for (;;) {  // every complete message in the buffer
            auto size = message_size(std::span(buf).subspan(head, tail - head));
            if (!size || size->second > tail - head - size->first) break;
            std::span<const std::byte> msg(buf.data() + head + size->first, size->second);
            head += size->first + size->second;
            std::uint64_t end_offset = conn->read - (tail - head);
            WireReader in(msg);
            bool no_reply = false;
            try {
                std::uint64_t server = in.u64();
                std::uint64_t id = in.u64();
                std::uint64_t op_word = in.u64();
                no_reply = (op_word & kNoReply) != 0 && conn->pipelining;
                auto op = static_cast<Op>(op_word & ~kNoReply);
                if (!no_reply) {
                    advance(*conn, end_offset);  // it may block: what came before is done
                    await_pipelined(*conn);
                }
                if (deferred && !no_reply) {  // answer with the kept error instead
                    reply = std::move(*deferred);
                    deferred.reset();
                } else if (!deferred) {  // (after a failed pipelined call, those are not run)
                    Bytes& target = no_reply ? discard : reply;
                    target.assign(1, std::byte{0});
                    WireWriter out(target);
                    handle(*conn, server, id, op, in, out);
                }
            } catch (const std::exception& e) {
                if (no_reply) {
                    deferred.emplace();
                    error_reply(e, *deferred,
                                "(a call sent without waiting for its answer, reported by the "
                                "next one) ");
                } else {
                    error_reply(e, reply);
                }
            }
            advance(*conn, end_offset);
            if (no_reply) continue;
            try {
                c.send_bytes(reply);
            } catch (const Error&) {
                return;
            }
        }
        // Keep the partial message at the front; grow as its bytes arrive.
        if (head > 0) {
            std::memmove(buf.data(), buf.data() + head, tail - head);
            tail -= head;
            head = 0;
        }
        if (tail == 0 && buf.size() > (std::size_t{1} << 20)) Bytes(kInitial).swap(buf);
        if (tail == buf.size()) {
            auto size = message_size(std::span(buf).first(tail));
            std::uint64_t need = size ? size->first + size->second : buf.size() * 2;
            buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(need, buf.size() * 2)));
        }
        ssize_t r = 0;
        // A client on this machine sends its next call within µs of our answer: catch it
        // without a sleep and a wake-up (see kCallSpin).
        if (spin_ && tail == head) (void)spin_until_readable(conn->fd, kCallSpin);
        if (conn->pipelining) {  // wait unlocked, read under read_mu (see await_pipelined)
            pollfd p{conn->fd, POLLIN, 0};
            if (::poll(&p, 1, -1) < 0 && errno != EINTR) return;
            std::lock_guard rl(conn->read_mu);
            r = ::recv(conn->fd, buf.data() + tail, buf.size() - tail, MSG_DONTWAIT);
            if (r > 0) conn->read += static_cast<std::uint64_t>(r);
        } else {
            r = ::read(conn->fd, buf.data() + tail, buf.size() - tail);
            if (r > 0) {
                std::lock_guard rl(conn->read_mu);
                conn->read += static_cast<std::uint64_t>(r);
            }
        }
        if (r == 0) return;  // the client is gone (or we are stopping)
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return;
        }
        tail += static_cast<std::size_t>(r);
    }
}

void Server::stop() {
    std::lock_guard lk(mu_);
    stopping_ = true;
    stopping_flag_.store(true);
    std::uint64_t one = 1;
    (void)::write(wake_, &one, sizeof one);
}

void Server::run(int listen_fd, int lifeline_fd) {
    std::uint64_t next_conn = 0;
    for (;;) {
        pollfd fds[3] = {{listen_fd, POLLIN, 0}, {lifeline_fd, POLLIN, 0}, {wake_, POLLIN, 0}};
        int r = ::poll(fds, 3, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw_errno("manager: poll");
        if (fds[1].revents != 0 || fds[2].revents != 0) break;  // owner gone, or shutdown asked
        int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;  // the peer gave up already, or a transient error
        std::lock_guard lk(mu_);
        if (stopping_) {
            close_fd(fd);
            break;
        }
        if (active_ >= kMaxConnections) {
            close_fd(fd);
            continue;
        }
        ++active_;
        conns_.insert(fd);
        std::thread(&Server::serve, this, fd, ++next_conn).detach();
    }
    std::unique_lock lk(mu_);
    stopping_ = true;
    stopping_flag_.store(true);
    {
        std::lock_guard dl(drain_mu_);
        drained_.notify_all();
    }
    for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);    // wakes threads blocked reading
    for (auto& [id, o] : objects_) o->cv.notify_all();  // and those blocked waiting
    idle_.wait_for(lk, std::chrono::seconds(5), [&] { return active_ == 0; });
}

}  // namespace

void run_manager_server(const Address& address, const std::string& authkey, std::uint64_t server_id,
                        Connection report) {
    std::optional<Listener> listener;
    try {
        listener.emplace(address, std::nullopt, ListenerOptions{.backlog = 128});
    } catch (const OSError& e) {
        report.send(e.code());
        report.send(std::string(e.what()));
        return;
    } catch (const std::exception& e) {
        report.send(-1);
        report.send(std::string(e.what()));
        return;
    }
    report.send(0);
    report.send(listener->address());
    // Never freed: a connection thread still finishing may touch it until the process ends.
    auto* server = new Server(authkey, server_id, address.is_unix());
    server->run(listener->fileno(), report.fileno());
}

}  // namespace mp::detail
