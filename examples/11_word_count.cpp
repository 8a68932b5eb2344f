// Mini-exercise 3 — the producer-consumer example, turned into a word counter.
//
// Python (the guide, sesión 8, with the exercise's change):
//     def productor(q, ruta):
//         for palabra in open(ruta).read().split():
//             q.put(palabra)
//         q.put(None)                      # señal de terminación
//     def consumidor(q, resultados):
//         cuenta = Counter()
//         while True:
//             palabra = q.get()
//             if palabra is None: break
//             cuenta[palabra] += 1
//         resultados.put(cuenta)
//
// The producer reads the words of a text file and puts them on a Queue; the
// consumer counts them until it gets the sentinel (Python's None is
// std::nullopt here) and sends its counts back on a second Queue. The parent
// checks them against a direct count.
//
// Usage: 11_word_count [file]   (default: examples/data/texto.txt, in Spanish)
#include <mp/mp.hpp>

#include "lang.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using example::tr;

using Counts = std::map<std::string, long>;

// ---- words: letters (any Latin letter, accented or not) and digits, lower-cased --------

namespace {

/// Decodes the UTF-8 code point at text[i], advancing i; invalid bytes come back as U+FFFD.
char32_t next_code_point(const std::string& text, std::size_t& i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char b = byte(i);
    int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + static_cast<std::size_t>(len) > text.size()) {
        ++i;
        return 0xFFFD;
    }
    char32_t cp = len == 1 ? b : static_cast<char32_t>(b & (0x7F >> len));
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (byte(i + static_cast<std::size_t>(k)) & 0x3F);
    i += static_cast<std::size_t>(len);
    return cp;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool is_word_char(char32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7);  // Latin-1 letters: á, ñ, ü, …
}

char32_t to_lower(char32_t c) {
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 0x20;
    return c;
}

/// The words of `text`, lower-cased: "¿Por qué?" → {"por", "qué"}.
std::vector<std::string> words_of(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    for (std::size_t i = 0; i < text.size();) {
        char32_t c = next_code_point(text, i);
        if (is_word_char(c)) {
            append_utf8(word, to_lower(c));
        } else if (!word.empty()) {
            words.push_back(std::move(word));
            word.clear();
        }
    }
    if (!word.empty()) words.push_back(std::move(word));
    return words;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream all;
    all << in.rdbuf();
    return all.str();
}

long total(const Counts& c) {
    long n = 0;
    for (const auto& [w, k] : c) n += k;
    return n;
}

}  // namespace

// ---- the two processes -------------------------------------------------------------------

void productor(mp::Queue<std::optional<std::string>> q, std::string ruta) {
    std::printf(tr("productor   (PID %d): reading words from %s\n",
                   "productor   (PID %d): leyendo palabras de %s\n"),
                mp::current_process().pid(), ruta.c_str());
    std::fflush(stdout);
    long sent = 0;
    for (auto& palabra : words_of(read_file(ruta).value_or(""))) {
        q.put(palabra);
        ++sent;
    }
    q.put(std::nullopt);  // the sentinel: q.put(None)
    std::printf(tr("productor   (PID %d): put %ld words, then the sentinel\n",
                   "productor   (PID %d): puso %ld palabras, luego el centinela\n"),
                mp::current_process().pid(), sent);
}

// tour:begin consumer
void consumidor(mp::Queue<std::optional<std::string>> q, mp::Queue<Counts> resultados) {
    std::printf(tr("consumidor  (PID %d): counting until the sentinel arrives\n",
                   "consumidor  (PID %d): contando hasta que llegue el centinela\n"),
                mp::current_process().pid());
    std::fflush(stdout);
    Counts cuenta;
    while (true) {
        std::optional<std::string> palabra =
            q.get();          // blocks until a word (or the sentinel) comes
        if (!palabra) break;  // if palabra is None: break
        ++cuenta[*palabra];
    }
    std::printf(tr("consumidor  (PID %d): got the sentinel after %ld words\n",
                   "consumidor  (PID %d): llegó el centinela después de %ld palabras\n"),
                mp::current_process().pid(), total(cuenta));
    resultados.put(cuenta);
}
// tour:end consumer

int main(int argc, char** argv) {
    std::string ruta = argc > 1 ? argv[1] : MP_EXAMPLES_DIR "/data/texto.txt";
    std::optional<std::string> text = read_file(ruta);
    if (!text) {
        std::fprintf(stderr,
                     tr("11_word_count: cannot read the file '%s'\n",
                        "11_word_count: no se puede leer el archivo '%s'\n"),
                     ruta.c_str());
        return 2;
    }

    // tour:begin main
    mp::Queue<std::optional<std::string>> q;
    mp::Queue<Counts> resultados;
    mp::Process p1(productor, q, ruta);
    mp::Process p2(consumidor, q, resultados);
    p1.start();
    p2.start();
    Counts cuenta = resultados.get();  // get before join: the consumer's put may wait for us
    p1.join();
    p2.join();
    // tour:end main

    std::vector<std::pair<std::string, long>> top(cuenta.begin(), cuenta.end());
    std::stable_sort(top.begin(), top.end(), [](auto& a, auto& b) { return a.second > b.second; });
    std::printf(tr("\nThe consumer counted %ld words, %zu distinct. Most frequent:\n",
                   "\nEl consumidor contó %ld palabras, %zu distintas. Las más frecuentes:\n"),
                total(cuenta), cuenta.size());
    for (std::size_t i = 0; i < top.size() && i < 10; ++i) {
        std::printf("  %4ld  %s\n", top[i].second, top[i].first.c_str());
    }

    Counts direct;  // the same count, done directly in the parent, no processes
    for (auto& w : words_of(*text)) ++direct[w];
    bool same = direct == cuenta;
    std::printf(tr("\nCheck: counting directly in the parent gives %ld words, %zu distinct — %s\n",
                   "\nVerificación: contando directamente en el padre salen %ld palabras, %zu "
                   "distintas — %s\n"),
                total(direct), direct.size(),
                same ? tr("the same counts: OK", "las mismas cuentas: OK")
                     : tr("DIFFERENT counts: FAIL", "cuentas DISTINTAS: FALLO"));
    return same ? 0 : 1;
}
