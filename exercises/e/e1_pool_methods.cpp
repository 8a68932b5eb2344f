// Exercise e1 — lesson e): the four Pool methods of the guides.
// Check it: mp-tour practice e1        A hint: mp-tour practice e1 --hint
//
// EN: Fill each result with the Pool method named beside it.
// ES: Llena cada resultado con el método de Pool que lleva al lado.
#include <mp/mp.hpp>

#include <cstdio>
#include <string>
#include <vector>

int cuadrado(int x) {
    return x * x;
}

std::string lista(const std::vector<int>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s;
}

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also through a pipe
    mp::Pool pool(4);
    std::vector<int> con_map;        // TODO: pool.map(cuadrado, {1, 2, 3, 4})
    int con_apply = 0;               // TODO: pool.apply(cuadrado, 7)
    std::vector<int> con_map_async;  // TODO: pool.map_async(cuadrado, {5, 6, 7}) … .get()
    std::vector<int> con_apply_async;
    // TODO (en): one pool.apply_async(cuadrado, i) for i = 1, 2, 3; then get() each into
    // con_apply_async.
    // TODO (es): un pool.apply_async(cuadrado, i) para i = 1, 2, 3; luego get() de cada uno en
    // con_apply_async.
    (void)pool;
    std::printf("map=%s\n", lista(con_map).c_str());
    std::printf("apply=%d\n", con_apply);
    std::printf("map_async=%s\n", lista(con_map_async).c_str());
    std::printf("apply_async=%s\n", lista(con_apply_async).c_str());
}
