#include "practice.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "session.hpp"

namespace tour {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- what a run printed ---------------------------------------------------------------

std::vector<std::string> Observed::all(std::string_view key) const {
    std::vector<std::string> out;
    std::istringstream in(run.output);
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos && std::string_view(line).substr(0, eq) == key)
            out.push_back(line.substr(eq + 1));
    }
    return out;
}

std::optional<std::string> Observed::get(std::string_view key) const {
    auto v = all(key);
    if (v.empty()) return std::nullopt;
    return v.back();
}

std::optional<long long> Observed::number(std::string_view key) const {
    auto v = get(key);
    if (!v) return std::nullopt;
    try {
        std::size_t used = 0;
        long long n = std::stoll(*v, &used);
        if (used != v->size()) return std::nullopt;
        return n;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

namespace {

// ---- where things are -----------------------------------------------------------------

fs::path source_dir() {
    return MP_TOUR_SOURCE_DIR;
}

/// The build tree this mp-tour runs from (build/tour/mp-tour → build).
fs::path running_build_dir() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path(MP_TOUR_BINARY_DIR) : self.parent_path().parent_path();
}

fs::path practice_dir() {
    return fs::path(MP_TOUR_BINARY_DIR) / "practice";
}

/// exercises/<lesson>/<id>_*.cpp under `tree`, for every id (known or new), sorted.
std::map<std::string, fs::path> find_exercise_files(const fs::path& tree) {
    std::map<std::string, fs::path> found;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(tree, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const fs::path& p = it->path();
        if (p.extension() != ".cpp") continue;
        std::string stem = p.stem().string();
        auto us = stem.find('_');
        if (us == std::string::npos || us == 0) continue;
        found.emplace(stem.substr(0, us), p);
    }
    return found;
}

const Exercise* find_exercise(std::string_view id) {
    for (const auto& e : exercises()) {
        if (e.id == id) return &e;
    }
    return nullptr;
}

/// An exercise found on disk with no checker of its own: it must build, run to the end
/// in time, exit 0 and leave no process behind.
Exercise generic_exercise(const std::string& id) {
    static std::vector<std::unique_ptr<std::string>> ids;  // Exercise holds string_views
    ids.push_back(std::make_unique<std::string>(id));
    Exercise e;
    e.id = *ids.back();
    e.lesson = std::string_view(*ids.back()).substr(0, 1);
    e.title = {"(a new exercise: no checker yet)", "(un ejercicio nuevo: todavía sin verificador)"};
    e.task = {"It must build, finish in time with exit code 0, and leave no process behind.",
              "Debe compilar, terminar a tiempo con código de salida 0 y no dejar procesos vivos."};
    e.check = [](const Observed&, const Say&) { return std::nullopt; };
    return e;
}

// ---- building -------------------------------------------------------------------------

struct Built {
    bool ok = false;
    std::string output;  ///< the compiler's messages
    fs::path binary;
};

std::vector<std::string> common_flags() {
    std::vector<std::string> f = {"-std=c++20", "-O0", "-Wall", "-Wextra", "-pthread"};
    std::istringstream extra(MP_TOUR_CXX_FLAGS);
    for (std::string w; extra >> w;) f.push_back(w);
    return f;
}

/// Runs a tool (no echo) and returns how it ended and what it printed.
RunResult run_tool(const std::string& path, std::vector<std::string> args,
                   std::chrono::milliseconds timeout = 300s) {
    RunOptions o;
    o.args = std::move(args);
    o.echo = false;
    o.timeout = timeout;
    Style quiet;
    return run_live(stdout, quiet, path, o);
}

/// A precompiled <mp/mp.hpp> (about half of an exercise's build time), made once per
/// build tree and remade when a header is newer. Without it the build is only slower.
fs::path ensure_pch() {
    static std::mutex m;
    std::lock_guard g(m);
    fs::path dir = practice_dir() / "pch";
    fs::path gch = dir / "mp" / "mp.hpp.gch";
    std::error_code ec;
    auto newest = fs::file_time_type::min();
    for (auto it = fs::recursive_directory_iterator(source_dir() / "include", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        newest = std::max(newest, fs::last_write_time(it->path(), ec));
    }
    if (fs::exists(gch, ec) && fs::last_write_time(gch, ec) >= newest) return dir;
    fs::create_directories(gch.parent_path(), ec);
    fs::path tmp = gch;
    tmp += "." + std::to_string(getpid()) + ".tmp";
    auto args = common_flags();
    args.insert(args.end(),
                {"-I" + (source_dir() / "include").string(), "-x", "c++-header",
                 (source_dir() / "include" / "mp" / "mp.hpp").string(), "-o", tmp.string()});
    RunResult r = run_tool(MP_TOUR_CXX, args);
    if (r.exit_code == 0) {
        fs::rename(tmp, gch, ec);
    } else {
        fs::remove(tmp, ec);
    }
    return dir;
}

/// What a build depends on, hashed (FNV-1a): the source's text, the command line, and the
/// mp library and precompiled header it links and includes.
std::string build_key(const fs::path& source, const std::vector<std::string>& args,
                      const fs::path& pch) {
    std::uint64_t h = 14695981039346656037ull;
    auto mix = [&h](std::string_view s) {
        for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    };
    std::ifstream in(source, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    mix(text.str());
    for (const auto& a : args) mix(a);
    std::error_code ec;
    for (const fs::path& dep : {fs::path(MP_TOUR_MP_LIBRARY), pch / "mp" / "mp.hpp.gch"}) {
        mix(dep.string());
        mix(std::to_string(fs::last_write_time(dep, ec).time_since_epoch().count()));
        mix(std::to_string(fs::file_size(dep, ec)));
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return hex;
}

/// Builds `source`, or reuses the binary of an earlier build of the very same text with the
/// same flags and library (practice/cache/<key>): a check re-run, a hint or --all after a
/// check compiles nothing.
Built build(const fs::path& source, const fs::path& binary) {
    Built b;
    std::error_code ec;
    fs::create_directories(binary.parent_path(), ec);
    fs::path pch = ensure_pch();
    auto args = common_flags();
    args.insert(args.end(),
                {"-I" + pch.string(), "-I" + (source_dir() / "include").string(),
                 "-DMP_EXERCISES_DIR=\"" + source.parent_path().parent_path().string() + "\"",
                 source.string(), MP_TOUR_MP_LIBRARY, "-lgmpxx", "-lgmp"});
    fs::path cached = practice_dir() / "cache" / build_key(source, args, pch);
    b.binary = cached;
    fs::path log = cached;
    log += ".log";  // the compiler's messages (warnings), shown again on a reuse
    if (fs::exists(cached, ec)) {
        b.ok = true;
        std::ifstream in(log);
        std::ostringstream text;
        text << in.rdbuf();
        b.output = text.str();
        return b;
    }
    fs::create_directories(cached.parent_path(), ec);
    // A name of this build's own: two checks of one exercise at once (two tests, two terminals)
    // must never link into the same file — one would rename the other's half-written binary
    // into the cache and run it (ETXTBSY, or worse).
    static std::atomic<unsigned> builds{0};
    fs::path tmp = cached;
    tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(builds++);
    args.insert(args.end(), {"-o", tmp.string()});
    RunResult r = run_tool(MP_TOUR_CXX, args);
    b.ok = r.started && r.exit_code == 0;
    b.output = r.output;
    if (!r.started) b.output = "cannot start the compiler " MP_TOUR_CXX ": " + r.output;
    if (b.ok) {
        fs::path log_tmp = tmp;
        log_tmp += ".log";
        std::ofstream(log_tmp, std::ios::trunc) << b.output;
        fs::rename(log_tmp, log, ec);
        fs::rename(tmp, cached, ec);  // atomic: a concurrent check sees all of it or nothing
        if (ec) b.binary = tmp;
    } else {
        fs::remove(tmp, ec);
    }
    return b;
}

// ---- judging --------------------------------------------------------------------------

struct Verdict {
    bool passed = false;
    std::string message;  ///< what is wrong, or why it passed
    Built built;
    Observed seen;
};

/// The checks every exercise gets before its own: it ended, in time, by itself, cleanly.
std::optional<std::string> common_problems(const Exercise& e, const Observed& o, const Say& say) {
    const RunResult& r = o.run;
    if (!r.started)
        return say("the program could not be started: ", "no se pudo iniciar el programa: ") +
               r.output;
    auto secs = std::to_string(e.timeout.count() / 1000);
    if (r.timed_out)
        return say(
            "it did not finish in " + secs +
                " s and was stopped: it hangs. Something waits for what never comes — a "
                "deadlock, a recv()/get() with no sender, a join() of a process that cannot end.",
            "no terminó en " + secs +
                " s y fue detenido: se cuelga. Algo espera lo que nunca llega — un "
                "interbloqueo (deadlock), un recv()/get() sin nadie que envíe, un join() de un "
                "proceso que no puede terminar.");
    if (r.exit_code < 0)
        return say("the program was killed by signal " + std::to_string(-r.exit_code) +
                       (r.exit_code == -11 ? " (SIGSEGV: a bad memory access)" : "") + ".",
                   "el programa murió por la señal " + std::to_string(-r.exit_code) +
                       (r.exit_code == -11 ? " (SIGSEGV: un acceso inválido a memoria)" : "") +
                       ".");
    if (r.exit_code != 0)
        return say("the program ended with exit code " + std::to_string(r.exit_code) +
                       " (an exception that nobody caught?). Its output is above.",
                   "el programa terminó con código de salida " + std::to_string(r.exit_code) +
                       " (¿una excepción que nadie atrapó?). Su salida está arriba.");
    if (r.left_processes)
        return say("processes it started were still running after it ended: a join() is missing.",
                   "quedaron procesos vivos después de que terminó: falta un join().");
    return std::nullopt;
}

Verdict judge(const Exercise& e, const fs::path& source, const fs::path& bin_dir, Lang lang,
              const Style& st, bool echo) {
    Say say{lang};
    Verdict v;
    v.built = build(source, bin_dir / std::string(e.id));
    if (!v.built.ok) {
        v.message = say("it does not compile; the compiler's messages say where.",
                        "no compila; los mensajes del compilador dicen dónde.");
        return v;
    }
    fs::path work = bin_dir / (std::string(e.id) + ".work");
    std::error_code ec;
    fs::remove_all(work, ec);
    fs::create_directories(work, ec);
    RunOptions o;
    o.timeout = e.timeout;
    o.own_group = true;
    o.echo = echo;
    o.env = {std::string("MP_LANG=") + (lang == Lang::es ? "es" : "en")};
    o.running_word = say("running…", "ejecutando…");
    if (e.setup) o.args = e.setup(work);
    v.seen.workdir = work;
    v.seen.run = run_live(stdout, st, v.built.binary.string(), o);
    if (auto p = common_problems(e, v.seen, say)) {
        v.message = *p;
        return v;
    }
    if (auto p = e.check(v.seen, say)) {
        v.message = *p;
        return v;
    }
    v.passed = true;
    return v;
}

// ---- the state file -------------------------------------------------------------------

fs::path state_file() {
    return state_dir() / "practice";
}

std::string shown_path(const fs::path& p) {
    std::error_code ec;
    fs::path rel = fs::relative(p, fs::current_path(ec), ec);
    if (!ec && !rel.empty() && rel.native().find("..") != 0) return rel.string();
    return p.string();
}

void print_hint(const Exercise& e, Lang lang, const Style& st, int n) {
    Say say{lang};
    int total = static_cast<int>(e.hints.size());
    if (total == 0) {
        std::printf("%s\n",
                    say("This exercise has no hints.", "Este ejercicio no tiene pistas.").c_str());
        return;
    }
    n = std::clamp(n, 1, total);
    for (int i = 0; i < n; ++i) {
        std::string head =
            say("Hint ", "Pista ") + std::to_string(i + 1) + "/" + std::to_string(total) + ": ";
        print_wrapped(
            stdout, st,
            paint(st, head, ansi::yellow) + std::string(e.hints[static_cast<std::size_t>(i)](lang)),
            2);
    }
    if (n < total)
        std::printf("  %s\n", fill(say("(again for hint %s: mp-tour practice %s --hint)",
                                       "(otra vez para la pista %s: mp-tour practice %s --hint)"),
                                   {std::to_string(n + 1), std::string(e.id)})
                                  .c_str());
}

std::string lang_flag(Lang lang) {
    return lang == Lang::es ? " --lang es" : "";
}

/// Checks one exercise, live, and says what to do next. Returns whether it passed.
bool check_and_tell(const Exercise& e, const fs::path& file, Lang lang, const Style& st,
                    PracticeState& state, bool record) {
    Say say{lang};
    std::printf("\n");
    print_rule(stdout, st, std::string(e.id) + " · " + std::string(e.title(lang)), shown_path(file),
               ansi::bold);
    print_wrapped(stdout, st, e.task(lang), 2);
    std::printf("  %s\n", paint(st, say("building…", "compilando…"), ansi::dim).c_str());
    std::fflush(stdout);
    Verdict v = judge(e, file, practice_dir() / "bin", lang, st, true);
    if (!v.built.output.empty()) {
        std::printf("%s", v.built.output.c_str());
        if (v.built.ok)
            std::printf("  %s\n", say("(warnings: it built; they are worth reading)",
                                      "(advertencias: compiló; vale la pena leerlas)")
                                      .c_str());
    }
    if (v.passed) {
        std::printf("  %s %s\n", paint(st, "✔", ansi::green).c_str(),
                    paint(st,
                          say("Passed: the program behaves as asked.",
                              "Superado: el programa se comporta como se pide."),
                          ansi::green)
                        .c_str());
        if (record &&
            std::find(state.passed.begin(), state.passed.end(), e.id) == state.passed.end()) {
            state.passed.emplace_back(e.id);
            save_practice_state(state);
        }
        return true;
    }
    std::printf("  %s ", paint(st, "✘", ansi::red).c_str());
    print_wrapped(stdout, st, paint(st, say("Not yet: ", "Todavía no: "), ansi::red) + v.message,
                  0);
    int shown = state.hints.count(std::string(e.id)) ? state.hints[std::string(e.id)] : 0;
    if (shown < static_cast<int>(e.hints.size()))
        std::printf("  %s\n", fill(say("A hint: mp-tour practice %s --hint%s",
                                       "Una pista: mp-tour practice %s --hint%s"),
                                   {std::string(e.id), lang_flag(lang)})
                                  .c_str());
    return false;
}

void print_list(const std::map<std::string, fs::path>& files, const PracticeState& state, Lang lang,
                const Style& st) {
    Say say{lang};
    print_rule(stdout, st, say("Exercises", "Ejercicios"), {}, ansi::bold);
    std::string next;
    std::string lesson;
    int passed = 0, total = 0;
    auto line = [&](const Exercise& e, const fs::path& file) {
        bool ok = std::find(state.passed.begin(), state.passed.end(), e.id) != state.passed.end();
        ++total;
        passed += ok ? 1 : 0;
        if (!ok && next.empty()) next = std::string(e.id);
        if (e.lesson != lesson) {
            lesson = std::string(e.lesson);
            for (const auto& l : lessons()) {
                if (l.id == e.lesson)
                    std::printf("\n  %s\n", paint(st, l.title(lang), ansi::bold).c_str());
            }
        }
        std::string mark = ok ? paint(st, say("passed", "superado"), ansi::green)
                              : paint(st, say("todo  ", "falta "), ansi::yellow);
        std::printf("    %-4s %s  %s\n         %s\n", std::string(e.id).c_str(), mark.c_str(),
                    std::string(e.title(lang)).c_str(),
                    paint(st, shown_path(file), ansi::dim).c_str());
    };
    for (const auto& e : exercises()) {
        auto it = files.find(std::string(e.id));
        if (it != files.end()) line(e, it->second);
    }
    for (const auto& [id, file] : files) {
        if (find_exercise(id) == nullptr) line(generic_exercise(id), file);
    }
    std::printf("\n  %s %d/%d\n", say("Passed:", "Superados:").c_str(), passed, total);
    if (!next.empty())
        std::printf("  %s mp-tour practice %s%s   (%s)\n", say("Next:", "Siguiente:").c_str(),
                    next.c_str(), lang_flag(lang).c_str(),
                    say("edit the file, then check it; --watch re-checks on save",
                        "edita el archivo y luego verifícalo; --watch verifica al guardar")
                        .c_str());
}

int check_all(const PracticeRequest& rq, const fs::path& tree, Lang lang) {
    Say say{lang};
    auto files = find_exercise_files(tree);
    std::vector<std::pair<Exercise, fs::path>> todo;
    auto wanted = [&](std::string_view id) {
        return id.starts_with(rq.id);
    };  // "" or "j": a lesson
    for (const auto& e : exercises()) {
        auto it = files.find(std::string(e.id));
        if (it != files.end() && wanted(e.id)) todo.emplace_back(e, it->second);
    }
    for (const auto& [id, file] : files) {
        if (find_exercise(id) == nullptr && wanted(id))
            todo.emplace_back(generic_exercise(id), file);
    }
    ensure_pch();
    std::vector<std::string> lines(todo.size());
    std::vector<int> ok(todo.size(), 0);
    std::atomic<std::size_t> next{0};
    fs::path bins = practice_dir() / tree.filename();
    auto worker = [&] {
        for (std::size_t i = next++; i < todo.size(); i = next++) {
            Style quiet;
            Verdict v = judge(todo[i].first, todo[i].second, bins, lang, quiet, false);
            ok[i] = v.passed ? 1 : 0;
            lines[i] = std::string(todo[i].first.id) + " " + (v.passed ? "PASS" : "FAIL") +
                       (v.passed ? "" : ": " + v.message);
            if (!v.built.ok) lines[i] += "\n" + v.built.output;
        }
    };
    std::vector<std::thread> pool;
    for (int j = 0; j < std::max(1, rq.jobs); ++j) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    int passed = 0;
    for (std::size_t i = 0; i < todo.size(); ++i) {
        std::printf("%s\n", lines[i].c_str());
        passed += ok[i];
    }
    std::printf("%s %d/%zu\n", say("passed", "superados").c_str(), passed, todo.size());
    return passed == static_cast<int>(todo.size()) ? 0 : 1;
}

int watch(const PracticeRequest& rq, const fs::path& tree, Lang lang, const Style& st,
          PracticeState& state) {
    Say say{lang};
    std::map<fs::path, fs::file_time_type> seen;
    auto scan = [&] {
        std::vector<fs::path> changed;
        for (const auto& [id, file] : find_exercise_files(tree)) {
            if (!rq.id.empty() && id != rq.id) continue;
            std::error_code ec;
            auto t = fs::last_write_time(file, ec);
            auto it = seen.find(file);
            if (it == seen.end() || it->second != t) changed.push_back(file);
            seen[file] = t;
        }
        return changed;
    };
    scan();
    if (!rq.id.empty()) {
        if (const Exercise* e = find_exercise(rq.id)) {
            auto files = find_exercise_files(tree);
            if (files.count(rq.id)) check_and_tell(*e, files[rq.id], lang, st, state, true);
        }
    }
    while (true) {
        std::printf("\n%s\n",
                    paint(st,
                          say("Watching the exercise files; save one to check it (Ctrl-C to stop).",
                              "Vigilando los archivos de ejercicios; guarda uno para verificarlo "
                              "(Ctrl-C para salir)."),
                          ansi::dim)
                        .c_str());
        std::fflush(stdout);
        std::vector<fs::path> changed;
        while ((changed = scan()).empty()) std::this_thread::sleep_for(300ms);
        for (const auto& file : changed) {
            std::string stem = file.stem().string();
            std::string id = stem.substr(0, stem.find('_'));
            const Exercise* e = find_exercise(id);
            Exercise generic = generic_exercise(id);
            check_and_tell(e != nullptr ? *e : generic, file, lang, st, state, true);
        }
    }
}

}  // namespace

// ---- state ----------------------------------------------------------------------------

PracticeState load_practice_state() {
    PracticeState s;
    std::ifstream in(state_file());
    std::string kind, id;
    while (in >> kind >> id) {
        if (kind == "passed") {
            s.passed.push_back(id);
        } else if (kind == "hints") {
            in >> s.hints[id];
        }
    }
    return s;
}

void save_practice_state(const PracticeState& s) {
    fs::path file = state_file(), tmp = file;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        for (const auto& p : s.passed) out << "passed " << p << "\n";
        for (const auto& [id, n] : s.hints) out << "hints " << id << " " << n << "\n";
    }
    fs::rename(tmp, file);
}

std::optional<std::string> build_tree_problem(Lang lang) {
    Say say{lang};
    std::error_code ec;
    fs::path here = running_build_dir(), made = MP_TOUR_BINARY_DIR;
    if (fs::equivalent(here, made, ec)) return std::nullopt;
    std::string fix = "cmake --fresh -S " + source_dir().string() + " -B " + here.string() +
                      " && cmake --build " + here.string() + " -j";
    return fill(
        say("this build folder (%s) was configured as %s: it was copied or moved, and "
            "CMake cannot use it there. Run, from anywhere:\n    %s",
            "esta carpeta de compilación (%s) se configuró como %s: fue copiada o movida, y "
            "CMake no puede usarla ahí. Ejecuta, desde cualquier carpeta:\n    %s"),
        {here.string(), made.string(), fix});
}

int practice_main(const PracticeRequest& rq, Lang lang, const Style& st) {
    Say say{lang};
    if (auto problem = build_tree_problem(lang)) {
        std::fprintf(stderr, "mp-tour: %s\n", problem->c_str());
        return 2;
    }
    fs::path tree = rq.dir.empty() ? source_dir() / "exercises" : fs::absolute(rq.dir);
    if (rq.all) return check_all(rq, tree, lang);
    PracticeState state;
    try {
        state = load_practice_state();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mp-tour: %s\n", e.what());
        return 2;
    }
    auto files = find_exercise_files(tree);
    if (rq.watch) return watch(rq, tree, lang, st, state);
    if (rq.id.empty()) {
        print_list(files, state, lang, st);
        return 0;
    }
    const Exercise* e = find_exercise(rq.id);
    Exercise generic = generic_exercise(rq.id);
    if (e == nullptr) {
        if (files.count(rq.id) == 0) {
            std::fprintf(stderr, "mp-tour: %s\n",
                         fill(say("no exercise '%s'. The list: mp-tour practice",
                                  "no hay un ejercicio '%s'. La lista: mp-tour practice"),
                              {rq.id})
                             .c_str());
            return 2;
        }
        e = &generic;
    }
    if (rq.hint) {
        int& n = state.hints[rq.id];
        n = std::min<int>(n + 1, static_cast<int>(e->hints.size()));
        save_practice_state(state);
        std::printf("%s · %s\n", std::string(e->id).c_str(), std::string(e->title(lang)).c_str());
        print_hint(*e, lang, st, n);
        return 0;
    }
    fs::path file = rq.file.empty() ? (files.count(rq.id) ? files[rq.id] : fs::path()) : rq.file;
    if (file.empty() || !fs::exists(file)) {
        std::fprintf(stderr, "mp-tour: %s\n",
                     fill(say("the file of exercise %s is missing (%s).",
                              "falta el archivo del ejercicio %s (%s)."),
                          {rq.id, file.string()})
                         .c_str());
        return 2;
    }
    return check_and_tell(*e, file, lang, st, state, rq.file.empty()) ? 0 : 1;
}

int run_example_main(const std::string& number, Lang lang, const Style& st) {
    Say say{lang};
    if (auto problem = build_tree_problem(lang)) {
        std::fprintf(stderr, "mp-tour: %s\n", problem->c_str());
        return 2;
    }
    std::string name;
    std::error_code ec;
    for (const auto& f : fs::directory_iterator(source_dir() / "examples", ec)) {
        std::string stem = f.path().stem().string();
        if (f.path().extension() == ".cpp" &&
            (stem == number || stem.rfind(number + "_", 0) == 0)) {
            if (!name.empty() && stem != number) {
                std::fprintf(
                    stderr, "mp-tour: %s\n",
                    fill(say("'%s' names more than one example (%s, %s): give the whole name.",
                             "'%s' nombra más de un ejemplo (%s, %s): da el nombre completo."),
                         {number, name, stem})
                        .c_str());
                return 2;
            }
            name = stem;
        }
    }
    if (name.empty()) {
        std::fprintf(
            stderr, "mp-tour: %s\n",
            fill(say("no example examples/%s*.cpp. The lessons and their examples: mp-tour --list",
                     "no hay un ejemplo examples/%s*.cpp. Las lecciones y sus ejemplos: mp-tour "
                     "--list"),
                 {number})
                .c_str());
        return 2;
    }
    std::printf("%s cmake --build %s --target %s\n", say("Rebuilding:", "Recompilando:").c_str(),
                MP_TOUR_BINARY_DIR, name.c_str());
    std::fflush(stdout);
    // A new examples/NN_*.cpp is found by CMake's glob (CONFIGURE_DEPENDS) on this build.
    RunOptions b;
    b.args = {"--build", MP_TOUR_BINARY_DIR, "--target", name};
    b.timeout = 600s;
    b.running_word = say("building…", "compilando…");
    RunResult r = run_live(stdout, st, MP_TOUR_CMAKE, b);
    if (r.exit_code != 0) {
        std::fprintf(stderr, "mp-tour: %s\n",
                     say("the build failed; the compiler's messages are above.",
                         "la compilación falló; los mensajes del compilador están arriba.")
                         .c_str());
        return 1;
    }
    RunOptions o;
    o.env = {std::string("MP_LANG=") + (lang == Lang::es ? "es" : "en")};
    o.running_word = say("running…", "ejecutando…");
    RunResult run = run_live(
        stdout, st, (fs::path(MP_TOUR_BINARY_DIR) / "examples" / name).string(), o, [&](int pid) {
            std::printf("  %s %s — PID %d\n", paint(st, "▶", ansi::green).c_str(), name.c_str(),
                        pid);
        });
    std::printf("  %s %s %d · %.2f s\n",
                paint(st, "■", run.exit_code == 0 ? ansi::green : ansi::red).c_str(),
                say("exit code", "código de salida").c_str(), run.exit_code, run.seconds);
    return run.exit_code == 0 ? 0 : 1;
}

}  // namespace tour
