// The manager's server: one thread per connection, one mutex over all objects, a
// condition variable per object for the blocking operations.
#include "manager_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "../system.hpp"
#include "handshake.hpp"
#include "mp/detail/manager_registry.hpp"
#include "mp/detail/manager_wire.hpp"

namespace mp::detail {

namespace {

constexpr std::size_t kMaxConnections = 1024;
constexpr std::size_t kMaxObjects = std::size_t{1} << 24;
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

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
    std::mutex user_mutex;  // calls on a user object run one at a time, outside the big lock
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
    Server(std::string key, std::uint64_t id) : key_(std::move(key)), id_(id) {
        wake_ = check(::eventfd(0, EFD_CLOEXEC), "manager: eventfd");
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server() { close_fd(wake_); }

    void run(int listen_fd, int lifeline_fd);

  private:
    void serve(int fd, std::uint64_t conn);
    void handle(std::uint64_t conn, WireReader& in, WireWriter& out);
    void manager_op(Op op, WireReader& in, WireWriter& out);
    void object_op(std::uint64_t conn, Object& o, Op op, WireReader& in, WireWriter& out,
                   std::unique_lock<std::mutex>& lk);
    Object& object(std::uint64_t id, Op op);
    void release_held_by(std::uint64_t conn);
    void stop();
    template <class Pred>
    bool wait(std::unique_lock<std::mutex>& lk, Object& o, std::int64_t timeout_ns, Pred pred);

    std::string key_;
    std::uint64_t id_;
    int wake_ = -1;  // eventfd: a shutdown request wakes the accept loop
    std::mutex mu_;
    bool stopping_ = false;
    std::vector<std::unique_ptr<Object>> objects_;  // id = index + 1
    std::map<std::string, std::uint64_t, std::less<>> names_;
    std::set<int> conns_;
    std::size_t active_ = 0;
    std::condition_variable idle_;
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

Object& Server::object(std::uint64_t id, Op op) {
    if (id == 0 || id > objects_.size()) {
        throw ValueError("manager: no object with id " + std::to_string(id) + " (for operation " +
                         std::to_string(static_cast<std::uint32_t>(op)) + ")");
    }
    return *objects_[id - 1];
}

void Server::manager_op(Op op, WireReader& in, WireWriter& out) {
    if (op == Op::hello) {
        out.u64(id_);
        return;
    }
    if (op == Op::shutdown) {
        stop();
        return;
    }
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
            Object& o = *objects_[it->second - 1];
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
    auto o = std::make_unique<Object>();
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
    objects_.push_back(std::move(o));
    std::uint64_t id = objects_.size();
    if (!name.empty()) names_.emplace(name, id);
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

void Server::handle(std::uint64_t conn, WireReader& in, WireWriter& out) {
    std::uint64_t server = in.u64();
    std::uint64_t id = in.u64();
    auto op = static_cast<Op>(in.u64());
    if (server != id_ && !(server == 0 && op == Op::hello)) {
        throw Error(
            "manager: this proxy belongs to a manager that is no longer running at this "
            "address (it shut down and another one started)");
    }
    if (id == 0) return manager_op(op, in, out);
    if (op == Op::call) {
        std::shared_ptr<void> target;
        const UserType::Method* method = nullptr;
        Object* o = nullptr;
        {
            std::lock_guard lk(mu_);
            o = &object(id, op);
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
    object_op(conn, object(id, op), op, in, out, lk);
}

void Server::release_held_by(std::uint64_t conn) {
    std::lock_guard lk(mu_);
    for (auto& o : objects_) {
        if (o->owner == conn &&
            (o->kind == Kind::lock || o->kind == Kind::rlock || o->kind == Kind::condition)) {
            o->owner = 0;
            o->count = 0;
            o->cv.notify_all();
        }
    }
}

void Server::serve(int fd, std::uint64_t conn) {
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
    Connection c = Connection::from_fd(fd, Connection::Framing::python);
    Bytes reply;
    for (;;) {
        Bytes request;
        try {
            request = c.recv_bytes();
        } catch (const Error&) {
            break;  // the client is gone (or we are stopping)
        }
        reply.clear();
        reply.push_back(std::byte{0});
        try {
            WireReader in(request);
            WireWriter out(reply);
            handle(conn, in, out);
        } catch (const std::exception& e) {
            Status st = Status::error;
            std::string type;
            if (dynamic_cast<const ValueError*>(&e))
                st = Status::value_error;
            else if (dynamic_cast<const Empty*>(&e))
                st = Status::empty;
            else if (dynamic_cast<const Full*>(&e))
                st = Status::full;
            else if (dynamic_cast<const BrokenBarrierError*>(&e))
                st = Status::broken_barrier;
            else if (dynamic_cast<const SerializationError*>(&e))
                st = Status::serialization;
            else if (!dynamic_cast<const Error*>(&e)) {
                st = Status::remote;
                type = current_exception_type_name();
            }
            reply.assign(1, static_cast<std::byte>(st));
            WireWriter out(reply);
            if (st == Status::remote) out.str(type);
            out.str(e.what());
        }
        try {
            c.send_bytes(reply);
        } catch (const Error&) {
            break;
        }
    }
    release_held_by(conn);
    std::lock_guard lk(mu_);
    conns_.erase(c.fileno());
    c.close();
    if (--active_ == 0) idle_.notify_all();
}

void Server::stop() {
    std::lock_guard lk(mu_);
    stopping_ = true;
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
    for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);  // wakes threads blocked reading
    for (auto& o : objects_) o->cv.notify_all();      // and those blocked waiting
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
    auto* server = new Server(authkey, server_id);
    server->run(listener->fileno(), report.fileno());
}

}  // namespace mp::detail
