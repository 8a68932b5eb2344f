// Uses the installed headers and library: a child process, a Queue and a frame round trip.
#include <mp/mp.hpp>

#include <cstdio>
#include <string>

int main() {
    mp::Queue<std::string> q;
    mp::Process p([q]() mutable { q.put("hello from the child"); });
    p.start();
    std::string got = q.get();
    p.join();
    auto back = mp::deserialize<std::string>(mp::serialize(got));
    std::printf("%s (exit code %d)\n", back.c_str(), p.exitcode().value_or(-1));
    return back == "hello from the child" && p.exitcode() == 0 ? 0 : 1;
}
