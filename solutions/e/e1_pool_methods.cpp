// Solution of exercise e1 — lesson e): the four Pool methods of the guides.
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
    std::vector<int> con_map = pool.map(cuadrado, {1, 2, 3, 4});
    int con_apply = pool.apply(cuadrado, 7);
    std::vector<int> con_map_async = pool.map_async(cuadrado, {5, 6, 7}).get();
    std::vector<mp::AsyncResult<int>> pendientes;
    for (int i = 1; i <= 3; ++i) pendientes.push_back(pool.apply_async(cuadrado, i));
    std::vector<int> con_apply_async;
    for (auto& r : pendientes) con_apply_async.push_back(r.get());
    std::printf("map=%s\n", lista(con_map).c_str());
    std::printf("apply=%d\n", con_apply);
    std::printf("map_async=%s\n", lista(con_map_async).c_str());
    std::printf("apply_async=%s\n", lista(con_apply_async).c_str());
}
