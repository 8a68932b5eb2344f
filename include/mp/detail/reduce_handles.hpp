// mp/detail/reduce_handles.hpp — Reduce<T> (<mp/detail/reduction.hpp>) for every mp
// handle: how each is written as bytes + fds and rebuilt in another process.
//
// Each handle's shared state is one or more memfd-backed SharedRegions (its fd travels)
// plus a few plain fields; a rebuilt handle maps the same memfd, so both processes see
// the same object, which lives while any process holds a handle to it. Process-local
// parts are made afresh (a lock's owner record, a Barrier's action — a Barrier with an
// action cannot travel to a fresh image: ValueError). A SharedMemory travels by name,
// as in Python: it must still exist when it is rebuilt (else OSError ENOENT).
//
// Included at the end of each handle header; the handles name Reduce<> a friend.
#pragma once

#include <cstddef>
#include <span>

#include "mp/detail/reduction.hpp"
#include "mp/detail/shared_region.hpp"

namespace mp {

class Lock;
class RLock;
class Semaphore;
class BoundedSemaphore;
class Event;
class Condition;
class Barrier;
class SharedMemory;
template <class T>
class Queue;
template <class T>
class JoinableQueue;
template <class T>
class SimpleQueue;
template <class T>
class RawValue;
template <class T>
class Value;
template <class T>
class RawArray;
template <class T>
class Array;

namespace detail {

class ByteRing;

void save_region(const SharedRegion& r, Bytes& out, FdSink& sink, const char* what);
SharedRegion load_region(std::span<const std::byte>& in, FdSource& src, const char* what);
void save_ring(const ByteRing& ring, Bytes& out, FdSink& sink);
void load_ring(ByteRing& ring, std::span<const std::byte>& in, FdSource& src);

#define MP_DECLARE_REDUCE(T)                                          \
    template <>                                                       \
    struct Reduce<T> {                                                \
        static void save(const T& h, Bytes& out, FdSink& sink);       \
        static T load(std::span<const std::byte>& in, FdSource& src); \
    }
MP_DECLARE_REDUCE(Lock);
MP_DECLARE_REDUCE(RLock);
MP_DECLARE_REDUCE(Semaphore);
MP_DECLARE_REDUCE(BoundedSemaphore);
MP_DECLARE_REDUCE(Event);
MP_DECLARE_REDUCE(Condition);
MP_DECLARE_REDUCE(Barrier);
MP_DECLARE_REDUCE(SharedMemory);
#undef MP_DECLARE_REDUCE

// Value<T> and Array<T> hold an RLock, but this header is also reached from <mp/queue.hpp>,
// where RLock is still incomplete: naming it through T makes the use dependent, so it is
// checked where a Value/Array is sent (RLock complete there), not here (clang insists).
// (A class template, not an alias: an alias that ignores T would not be dependent.)
template <class, class X>
struct Through {
    using type = X;
};

template <class T>
struct Reduce<Queue<T>> {
    static void save(const Queue<T>& q, Bytes& out, FdSink& sink) { save_ring(q.ring_, out, sink); }
    static Queue<T> load(std::span<const std::byte>& in, FdSource& src) {
        Queue<T> q;
        load_ring(q.ring_, in, src);
        return q;
    }
};

template <class T>
struct Reduce<JoinableQueue<T>> {
    static void save(const JoinableQueue<T>& q, Bytes& out, FdSink& sink) {
        save_ring(q.ring_, out, sink);
    }
    static JoinableQueue<T> load(std::span<const std::byte>& in, FdSource& src) {
        JoinableQueue<T> q;
        load_ring(q.ring_, in, src);
        return q;
    }
};

template <class T>
struct Reduce<SimpleQueue<T>> {
    static void save(const SimpleQueue<T>& q, Bytes& out, FdSink& sink) {
        Reduce<Queue<T>>::save(q.q_, out, sink);
    }
    static SimpleQueue<T> load(std::span<const std::byte>& in, FdSource& src) {
        SimpleQueue<T> q;
        q.q_ = Reduce<Queue<T>>::load(in, src);
        return q;
    }
};

template <class T>
struct Reduce<RawValue<T>> {
    static void save(const RawValue<T>& v, Bytes& out, FdSink& sink) {
        save_region(v.region_, out, sink, "mp::RawValue");
    }
    static RawValue<T> load(std::span<const std::byte>& in, FdSource& src) {
        RawValue<T> v;
        v.region_ = load_region(in, src, "mp::RawValue");
        if (v.region_.size() < sizeof(T)) throw ValueError("mp::RawValue: a region too small");
        v.p_ = v.region_.template as<T>();
        return v;
    }
};

template <class T>
struct Reduce<Value<T>> {
    static void save(const Value<T>& v, Bytes& out, FdSink& sink) {
        Reduce<RawValue<T>>::save(v.raw_, out, sink);
        Reduce<typename Through<T, RLock>::type>::save(v.lock_, out, sink);
    }
    static Value<T> load(std::span<const std::byte>& in, FdSource& src) {
        Value<T> v;
        v.raw_ = Reduce<RawValue<T>>::load(in, src);
        v.lock_ = Reduce<typename Through<T, RLock>::type>::load(in, src);
        return v;
    }
};

template <class T>
struct Reduce<RawArray<T>> {
    static void save(const RawArray<T>& a, Bytes& out, FdSink& sink) {
        save_region(a.region_, out, sink, "mp::RawArray");
        put_pod<std::uint64_t>(out, a.size_);
    }
    static RawArray<T> load(std::span<const std::byte>& in, FdSource& src) {
        RawArray<T> a(std::size_t{0});
        a.region_ = load_region(in, src, "mp::RawArray");
        auto n = get_pod<std::uint64_t>(in);
        if (n > a.region_.size() / sizeof(T)) throw ValueError("mp::RawArray: a region too small");
        a.size_ = static_cast<std::size_t>(n);
        a.data_ = a.region_.template as<T>();
        return a;
    }
};

template <class T>
struct Reduce<Array<T>> {
    static void save(const Array<T>& a, Bytes& out, FdSink& sink) {
        Reduce<RawArray<T>>::save(a.raw_, out, sink);
        Reduce<typename Through<T, RLock>::type>::save(a.lock_, out, sink);
    }
    static Array<T> load(std::span<const std::byte>& in, FdSource& src) {
        Array<T> a(std::size_t{0});
        a.raw_ = Reduce<RawArray<T>>::load(in, src);
        a.lock_ = Reduce<typename Through<T, RLock>::type>::load(in, src);
        return a;
    }
};

}  // namespace detail
}  // namespace mp
