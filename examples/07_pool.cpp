#include <mp/mp.hpp>
#include <cstdio>
int square(int x) { return x * x; }
int main() {
    mp::Pool pool(2);
    auto v = pool.map(square, std::vector{1, 2, 3, 4});
    for (int x : v) std::printf("%d ", x);
    std::printf("\napply %d\n", pool.apply(square, 7));
    auto r = pool.apply_async([](int a, int b) { return a + b; }, 2, 3);
    std::printf("async %d\n", r.get());
    for (int x : pool.imap(square, std::vector{5, 6, 7})) std::printf("%d ", x);
    std::printf("\n");
}
