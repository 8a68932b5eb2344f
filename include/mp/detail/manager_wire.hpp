// Internal to <mp/managers.hpp>: what a proxy holds, and the request/response encoding
// between proxies and the manager's server. Not part of the API.
//
// A request is one message (Python framing): the server id, the object id and the
// operation (three 8-byte fields), then the operation's fields.
// A response: u8 status, then fields. A field is a u32 length and that many bytes; numbers
// are 8-byte little-endian fields. Values travel as whole mp frames (<mp/serialize.hpp>),
// so the server stores them as bytes, never decodes them, and a proxy of another type
// gets a SerializationError naming both types.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "mp/errors.hpp"
#include "mp/listener.hpp"
#include "mp/serialize.hpp"

namespace mp::detail {

/// What a proxy holds: where its server is, the key, which server instance, which object.
struct ObjectRef {
    Address address;
    std::string authkey;
    std::uint64_t server = 0;  // a random id of the server instance (a restart is another)
    std::uint64_t id = 0;
    bool counted = false;  // an unnamed object: freed when the last proxy to it is dropped

    template <class Archive>
    void serialize(Archive& ar) {
        ar(address, authkey, server, id, counted);
    }
};

/// One process's reference to a counted object, shared by the copies of a proxy in this
/// process. Made on creation or when a proxy is read from a message; its end tells the
/// server (once no other Reference of this process names the object).
class Reference {
  public:
    /// `token` != 0: take over the reference a writer put in flight (Op::transit);
    /// `fresh`: the server counted this process already (it just created the object).
    Reference(const ObjectRef& ref, std::uint64_t token, bool fresh);
    Reference(const Reference&) = delete;
    Reference& operator=(const Reference&) = delete;
    ~Reference();
    /// Puts one more reference in flight for a message being written; its token (0 if the
    /// server could not be told: the reader then only increfs).
    [[nodiscard]] std::uint64_t transit() const;

  private:
    ObjectRef ref_;
};

/// A new object's reference and its proxy's Reference (null for a named object).
struct Created {
    ObjectRef ref;
    std::shared_ptr<Reference> life;
};

/// Creates an unnamed object through this process's reference connection to `manager`'s
/// server (see Reference); `request` is a create request built by start_request.
Created create_counted(const ObjectRef& manager, const Bytes& request);

/// Operations the server runs. Nothing else can be asked of it.
enum class Op : std::uint32_t {
    // on the manager (object id 0)
    hello = 1,  // → server id
    create,     // kind, type tag, name, init → object id
    shutdown,
    pipeline,  // → 1 if this connection may send kNoReply requests from now on, else 0
    // reference counting (see "Lifetime" in <mp/managers.hpp>)
    incref,   // id: this connection holds the object
    decref,   // id: it no longer does
    transit,  // id, token: a reference written into a message
    adopt,    // id, token: this connection takes the reference of that message
    hold,     // n, ids...: incref each (a forked child's, made by its parent)
    count,    // → the number of objects the server holds
    // dict
    dict_set = 100,
    dict_get,
    dict_contains,
    dict_erase,
    dict_size,
    dict_items,
    dict_clear,
    // list
    list_append = 200,
    list_get,
    list_set,
    list_size,
    list_items,
    list_pop,
    list_clear,
    list_extend,
    // Value
    value_get = 300,
    value_set,
    // Queue
    queue_put = 400,
    queue_get,
    queue_size,
    queue_maxsize,
    // Lock, RLock, Condition (its lock), Semaphore
    acquire = 500,
    release,
    // Event
    event_set = 600,
    event_clear,
    event_is_set,
    event_wait,
    // Condition
    cond_wait = 700,
    cond_notify,
    // Semaphore
    sem_release = 800,
    sem_value,
    // Barrier
    barrier_wait = 900,
    barrier_abort,
    barrier_reset,
    barrier_parties,
    barrier_n_waiting,
    barrier_broken,
    // a registered user type
    call = 1000,
};

/// Set in a request's operation field: the server sends no response (a pipelined call;
/// only on a connection that asked with Op::pipeline). See <mp/managers.hpp>.
inline constexpr std::uint64_t kNoReply = std::uint64_t{1} << 63;

/// The kinds of object a server holds.
enum class Kind : std::uint64_t {
    dict = 1,
    list,
    value,
    queue,
    lock,
    rlock,
    event,
    condition,
    semaphore,
    barrier,
    user
};

/// Response status and error kinds (the exception the proxy throws). An error carries a
/// message field; `remote` (a registered method threw) a type name field first.
enum class Status : std::uint8_t {
    ok = 0,
    error,
    value_error,
    empty,
    full,
    broken_barrier,
    serialization,
    remote
};

class WireWriter {
  public:
    explicit WireWriter(Bytes& out) : out_(out) {}
    WireWriter& u64(std::uint64_t v) { return field(std::as_bytes(std::span(&v, 1))); }
    WireWriter& i64(std::int64_t v) { return u64(static_cast<std::uint64_t>(v)); }
    WireWriter& str(std::string_view s) {
        return field(std::as_bytes(std::span(s.data(), s.size())));
    }
    WireWriter& field(std::span<const std::byte> b) {
        auto n = static_cast<std::uint32_t>(b.size());
        auto nb = std::as_bytes(std::span(&n, 1));
        out_.insert(out_.end(), nb.begin(), nb.end());
        out_.insert(out_.end(), b.begin(), b.end());
        return *this;
    }
    /// A value as a whole mp frame.
    template <class T>
    WireWriter& value(const T& v) {
        std::size_t at = out_.size();
        out_.resize(at + 4);
        encode_frame(v, out_);
        auto n = static_cast<std::uint32_t>(out_.size() - at - 4);
        std::memcpy(out_.data() + at, &n, 4);
        return *this;
    }

  private:
    Bytes& out_;
};

/// Reads fields; every length is checked against the bytes present (SerializationError).
class WireReader {
  public:
    explicit WireReader(std::span<const std::byte> in) : in_(in) {}
    std::span<const std::byte> field() {
        std::uint32_t n = 0;
        take(std::as_writable_bytes(std::span(&n, 1)));
        if (n > in_.size() - pos_) short_message();
        auto f = in_.subspan(pos_, n);
        pos_ += n;
        return f;
    }
    std::uint64_t u64() {
        auto f = field();
        if (f.size() != 8) short_message();
        std::uint64_t v = 0;
        std::memcpy(&v, f.data(), 8);
        return v;
    }
    std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
    std::string str() {
        auto f = field();
        return std::string(reinterpret_cast<const char*>(f.data()), f.size());
    }
    template <class T>
    T value() {
        return deserialize<T>(field());
    }
    [[nodiscard]] bool done() const noexcept { return pos_ == in_.size(); }
    std::uint8_t byte() {
        std::uint8_t b = 0;
        take(std::as_writable_bytes(std::span(&b, 1)));
        return b;
    }

  private:
    void take(std::span<std::byte> out) {
        if (out.size() > in_.size() - pos_) short_message();
        std::memcpy(out.data(), in_.data() + pos_, out.size());
        pos_ += out.size();
    }
    [[noreturn]] static void short_message() {
        throw SerializationError("manager: a message is shorter than its fields announce");
    }
    std::span<const std::byte> in_;
    std::size_t pos_ = 0;
};

/// Sends `request` (built by start_request and the fields) to the server of `ref`, and
/// returns the ok response's fields (kept in `reply`); throws the error the server
/// answered with, or mp::Error if the server is gone. `what` names the call ("dict.get").
WireReader manager_call(const ObjectRef& ref, const Bytes& request, Bytes& reply, const char* what);

/// Sends `request` without waiting for an answer where the connection allows it (a Unix
/// socket address); otherwise as manager_call. An error it causes is thrown by this
/// thread's next manager_call to that server.
void manager_post(const ObjectRef& ref, Bytes& request, const char* what);

/// A per-thread buffer holding the header of a request for `op` on `ref`.
Bytes& start_request(const ObjectRef& ref, Op op);

/// A readable rendering of a key or index for error messages.
template <class T>
std::string describe_key(const T& k) {
    if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        return "'" + std::string(std::string_view(k)) + "'";
    } else if constexpr (std::is_arithmetic_v<T>) {
        return std::to_string(k);
    } else {
        return "(a key of type " + readable_type_name(type_name<T>()) + ")";
    }
}

/// Timeouts on the wire: nanoseconds, -1 for none.
template <class Rep, class Period>
std::int64_t wire_timeout(std::chrono::duration<Rep, Period> d) {
    auto ns = std::chrono::ceil<std::chrono::nanoseconds>(d).count();
    return ns < 0 ? 0 : static_cast<std::int64_t>(ns);
}

}  // namespace mp::detail
