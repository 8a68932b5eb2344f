// mp-tour, the guided tour: it runs to the end in both languages with every
// lesson's heading, code and live run; --list, --lesson and bad flags behave;
// and an interactive session with scripted answers saves progress, resumes,
// and writes a session report in the shape of the guides' reports.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using mp::test::binary;
using mp::test::ProgramResult;
using mp::test::run_program;
namespace fs = std::filesystem;

using mp::test::contains;

namespace {

const std::string kTour = binary("tour/mp-tour");

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

ProgramResult tour(const std::vector<std::string>& args, const std::string& input = "",
                   const std::vector<std::string>& env = {}) {
    std::vector<std::string> all{"--no-color"};
    all.insert(all.end(), args.begin(), args.end());
    ProgramResult r = run_program(kTour, all, input, 110s, env);
    EXPECT_NE(r.exit_code, 127) << "mp-tour is not built";
    EXPECT_NE(r.exit_code, -9) << "mp-tour did not finish in 110 s; output:\n" << r.out;
    return r;
}

const std::vector<std::string> kTitlesEn = {
    "a) Fundamentals of processes and concurrent programming",
    "b) Creating and managing processes",
    "c) Communication between processes: Pipe and Queue",
    "d) Basic synchronization with Lock",
    "e) Process pools",
    "f) Basic shared memory: Value and Array",
    "g) Final exercise: mp_worker",
    "h) Mini-exercises",
    "i) Combined exercise: Queue + Lock + Pool",
    "j) Debugging exercises: planted bugs",
    "k) Threads vs processes vs async",
};
const std::vector<std::string> kTitlesEs = {
    "a) Fundamentos de procesos y programación concurrente",
    "b) Creación y gestión de procesos con multiprocessing",
    "c) Comunicación entre procesos: Pipe y Queue",
    "d) Sincronización básica con Lock",
    "e) Pool de procesos",
    "f) Memoria compartida básica: Value y Array",
    "g) Ejercicio final: mp_worker",
    "h) Mini-ejercicios rápidos",
    "i) Ejercicio combinado: Queue + Lock + Pool",
    "j) Ejercicios de depuración: errores intencionales",
    "k) Hilos vs procesos vs async",
};

// Every example the tour runs, in its order.
const std::vector<std::string> kPrograms = {
    "01_process",      "02_lifecycle",  "03_pipe",
    "04_queue",        "05_lock",       "06_shared_memory",
    "07_pool",         "08_mp_worker",  "09_sum_ranges",
    "10_factorials",   "11_word_count", "12_queue_lock_pool",
    "20_bug_race",     "20_fix_race",   "21_bug_deadlock",
    "21_fix_deadlock", "22_bug_empty",  "22_fix_empty",
    "23_bug_pipe",     "23_fix_pipe",   "13_threads_vs_processes"};

/// Checks a complete non-interactive tour: headings in order, code, live runs with real PIDs.
/// What the example programs print in one language (they follow MP_LANG, set by the tour).
struct ProgramLines {
    std::string parent_pid, child_name, race, word_check, agree;
};
const ProgramLines kLinesEn = {
    "┃ Parent PID: ", "(name Process-1, parent PID ", "┃ Symptom: RACE CONDITION",
    "┃ Check: counting directly in the parent", "┃   all four found the same count: yes"};
const ProgramLines kLinesEs = {"┃ PID del padre: ", "(nombre Process-1, PID del padre ",
                               "┃ Síntoma: CONDICIÓN DE CARRERA",
                               "┃ Verificación: contando directamente en el padre",
                               "┃   las cuatro encontraron la misma cuenta: sí"};

void check_full_tour(const ProgramResult& r, const std::vector<std::string>& titles,
                     const std::string& python, const std::string& mp, const std::string& live,
                     const std::string& checkpoint, const std::string& end,
                     const ProgramLines& lines_of = kLinesEn) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::size_t at = 0;
    for (const auto& t : titles) {
        auto found = r.out.find("── " + t, at);
        EXPECT_NE(found, std::string::npos) << "lesson heading missing or out of order: " << t;
        if (found != std::string::npos) at = found;
    }
    EXPECT_EQ(count(r.out, checkpoint), titles.size()) << "one checkpoint per lesson";
    // 17 code comparisons: a Python listing headed "Python (the guides)" (or "Python"
    // where the code is ours) and its mp twin, side by side or one after the other.
    std::size_t pythons = 0, guides = 0, mps = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        bool side = contains(line, "   " + mp) && line.ends_with(mp);
        std::string left = side ? line.substr(0, line.find("   " + mp)) : line;
        while (!left.empty() && left.back() == ' ') left.pop_back();
        if (left == "  Python" || left == "  " + python) ++pythons;
        if (left == "  " + python) ++guides;
        if (side || line == "  " + mp) ++mps;
    }
    EXPECT_EQ(pythons, 17u);
    EXPECT_EQ(mps, 17u);
    EXPECT_GE(guides, 8u);
    EXPECT_TRUE(contains(r.out, "p = Process(target=worker)")) << "the guide's Python";
    EXPECT_TRUE(contains(r.out, "mp::Process p(worker);")) << "its mp form";
    // Every program ran live, as a real process: its PID is shown, and it is not ours.
    for (const auto& p : kPrograms) {
        auto pid = mp::test::number_after(r.out, live + ": examples/" + p + " — PID ");
        EXPECT_TRUE(pid.has_value()) << p << " did not run live";
        if (pid) {
            EXPECT_NE(static_cast<pid_t>(*pid), getpid());
        }
    }
    // 01_process prints its own PID: the PID the tour reported is the real one.
    auto pid = mp::test::number_after(r.out, live + ": examples/01_process — PID ");
    ASSERT_TRUE(pid.has_value());
    std::string parent = std::to_string(static_cast<long>(*pid));
    EXPECT_TRUE(contains(r.out, lines_of.parent_pid + parent + " ")) << r.out.substr(0, 4000);
    EXPECT_TRUE(contains(r.out, lines_of.child_name + parent + ")")) << r.out.substr(0, 4000);
    // Real output of later lessons reaches the tour.
    EXPECT_TRUE(contains(r.out, lines_of.race));
    EXPECT_TRUE(contains(r.out, lines_of.word_check));
    EXPECT_TRUE(contains(r.out, lines_of.agree));
    EXPECT_FALSE(contains(r.out, "NOT BUILT YET")) << "every example should be built";
    EXPECT_FALSE(contains(r.out, "TODAVÍA NO COMPILADO")) << "every example should be built";
    EXPECT_TRUE(contains(r.out, end));
    // Under the sanitizers, the examples' own reports would land in the tour's output.
    EXPECT_FALSE(contains(r.out, "runtime error")) << r.out;
    EXPECT_FALSE(contains(r.out, "Sanitizer")) << r.out;
}

std::string make_temp_dir() {
    char dir[] = "/tmp/mp-tour-test-XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    return dir;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// The right letter of every question, in the order the tour asks them (predictions, then the
/// checkpoint), and the lesson of each: read from the tour straight through ("→ Answer b) …").
struct Key {
    std::vector<char> right;
    std::vector<char> lesson;
};
Key answer_key() {
    ProgramResult r = tour({"--no-run", "--lang", "en", "--width", "400"});
    Key key;
    char lesson = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        const std::string rule = "── ";  // then "a) title"
        if (line.starts_with(rule) && line.size() > rule.size() + 1 && line[rule.size() + 1] == ')')
            lesson = line[rule.size()];
        const std::string mark = "   → Answer ";
        if (line.starts_with(mark) && line.size() > mark.size() + 1) {
            key.right.push_back(line[mark.size()]);
            key.lesson.push_back(lesson);
        }
    }
    return key;
}

char wrong_for(char right) {
    return right == 'a' ? 'b' : 'a';
}

/// Answers for questions `from` … the end: right, except those in `wrong`, which are answered
/// wrong and then right when the tour asks them again at the end of their lesson.
std::string script(const Key& key, std::size_t from, const std::vector<std::size_t>& wrong) {
    std::string input, again;
    for (std::size_t i = from; i < key.right.size(); ++i) {
        bool w = std::find(wrong.begin(), wrong.end(), i) != wrong.end();
        input += std::string(1, w ? wrong_for(key.right[i]) : key.right[i]) + "\n";
        if (w) again += std::string(1, key.right[i]) + "\n";
        if (i + 1 == key.right.size() || key.lesson[i + 1] != key.lesson[i]) {
            input += again;
            again.clear();
        }
    }
    return input;
}

std::size_t first_of(const Key& key, char lesson) {
    return static_cast<std::size_t>(std::find(key.lesson.begin(), key.lesson.end(), lesson) -
                                    key.lesson.begin());
}

/// English words that no Spanish sentence of ours contains, padded with spaces.
const std::vector<std::string> kEnglishMarkers = {
    " the ",  " and ",  " with ",   " is ",      " are ",  " was ", " were ",
    " not ",  " this ", " of ",     " to ",      " from ", " got ", " has ",
    " each ", " hint",  " running", " expected", " which "};

/// The lines of `text` that read as English: code listings (behind "│") and `quoted code`
/// are left out; what the programs print (behind "┃") is kept.
std::vector<std::string> english_lines(const std::string& text) {
    std::vector<std::string> found;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (contains(line, "│")) continue;
        std::string plain;
        bool quoted = false;
        for (char c : line) {
            if (c == '`')
                quoted = !quoted;
            else if (!quoted)
                plain += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        plain = " " + plain + " ";
        for (char& c : plain) {
            if (c == ',' || c == '.' || c == ':' || c == ';' || c == '(' || c == ')') c = ' ';
        }
        for (const auto& m : kEnglishMarkers) {
            if (contains(plain, m)) {
                found.push_back(line + "   ← '" + m + "'");
                break;
            }
        }
    }
    return found;
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "\n";
    return s;
}

}  // namespace

TEST(Tour, SpanishEverywhereTheTourTheProgramsHelpAndErrors) {
    ProgramResult r = tour({"--lang", "es", "--width", "200"});
    EXPECT_EQ(r.exit_code, 0);
    auto english = english_lines(r.out);
    EXPECT_TRUE(english.empty()) << "English in the Spanish tour:\n" << joined(english);
    // The marker list does catch English: the English tour is full of it.
    EXPECT_GT(english_lines(tour({"--lang", "en", "--width", "200", "--no-run"}).out).size(), 20u);

    ProgramResult help = tour({"--help", "--lang", "es"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_TRUE(contains(help.out, "OPCIONES")) << help.out;
    EXPECT_TRUE(contains(help.out, "mp-tour practice")) << help.out;
    english = english_lines(help.out);
    EXPECT_TRUE(english.empty()) << joined(english);
    ProgramResult bad = tour({"--bogus", "--lang", "es"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_TRUE(contains(bad.err, "esto no se esperaba: --bogus")) << bad.err;
    ProgramResult value = tour({"--lesson", "zz", "--lang", "es"});
    EXPECT_TRUE(contains(value.err, "--lesson: un valor no permitido: zz no está en")) << value.err;
    EXPECT_TRUE(english_lines(value.err).empty()) << value.err;
    EXPECT_TRUE(english_lines(bad.err).empty()) << bad.err;
    ProgramResult list = tour({"practice", "--lang", "es"}, "", {"XDG_STATE_HOME=/tmp"});
    EXPECT_TRUE(contains(list.out, "Siguiente: mp-tour practice a1 --lang es")) << list.out;
    english = english_lines(list.out);
    EXPECT_TRUE(english.empty()) << joined(english);
}

TEST(Tour, EveryExamplePrintsSpanishWithMpLangEs) {
    std::size_t n = 0;
    for (const auto& f : fs::directory_iterator(fs::path(MP_SOURCE_DIR) / "examples")) {
        if (f.path().extension() != ".cpp") continue;
        std::string name = f.path().stem().string();
        std::vector<std::string> env = {"MP_LANG=es"};
        // Open MPI's own allocations are reported by LeakSanitizer at exit (tests/mpi does the
        // same).
        if (name.find("_mpi_") != std::string::npos) env.push_back("ASAN_OPTIONS=detect_leaks=0");
        ProgramResult r = run_program(binary("examples/" + name), {}, "", 60s, env);
        ASSERT_NE(r.exit_code, 127) << name << " is not built";
        auto english = english_lines(r.out + r.err);
        EXPECT_TRUE(english.empty()) << name << " prints English with MP_LANG=es:\n"
                                     << joined(english);
        ++n;
    }
    EXPECT_GE(n, 21u);
}

TEST(Tour, RunsToTheEndInEnglish) {
    ProgramResult r = tour({"--lang", "en", "--width", "100"});
    check_full_tour(r, kTitlesEn, "Python (the guides)", "C++ with mp", "Live run",
                    "Checkpoint — alto para puesta en común", "End of the tour.");
    EXPECT_TRUE(contains(
        r.out, "1. Why can Python's multiprocessing run in real parallel while threading"));
}

TEST(Tour, RunsToTheEndInSpanish) {
    ProgramResult r = tour({"--lang", "es", "--width", "100"});
    check_full_tour(r, kTitlesEs, "Python (las guías)", "C++ con mp", "Ejecución en vivo",
                    "── Alto para puesta en común", "Fin del recorrido.", kLinesEs);
    EXPECT_TRUE(contains(
        r.out, "¿Por qué multiprocessing puede ejecutar en paralelo real y threading no?"));
    EXPECT_TRUE(contains(r.out, "¿Cuál es la diferencia práctica entre Queue y Pipe?"));
    EXPECT_TRUE(contains(r.out, "¿Qué problema soluciona el Lock y qué pasa si no se usa?"));
    EXPECT_TRUE(contains(r.out, "¿Cuándo conviene usar Pool en vez de Process manual?"));
    EXPECT_TRUE(contains(r.out, "señal de terminación"));
}

TEST(Tour, ListNamesEveryLesson) {
    ProgramResult r = tour({"--list", "--lang", "en"});
    EXPECT_EQ(r.exit_code, 0);
    for (const auto& t : kTitlesEn) EXPECT_TRUE(contains(r.out, t)) << t;
    for (auto alias : {"process", "lifecycle", "pipe", "lock", "pool", "value", "mp_worker", "mini",
                       "combined", "debug", "compare"}) {
        EXPECT_TRUE(contains(r.out, alias)) << alias;
    }
    EXPECT_TRUE(contains(r.out, "20_bug_race 20_fix_race"));
    EXPECT_FALSE(contains(r.out, "Live run")) << "--list runs nothing";
}

TEST(Tour, LessonOnlyShowsJustThatLesson) {
    ProgramResult r = tour({"--lesson", "d", "--only", "--lang", "en"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, kTitlesEn[3]));
    EXPECT_TRUE(contains(r.out, "Live run: examples/05_lock — PID "));
    for (std::size_t i = 0; i < kTitlesEn.size(); ++i) {
        if (i != 3) {
            EXPECT_FALSE(contains(r.out, "── " + kTitlesEn[i])) << kTitlesEn[i];
        }
    }
    EXPECT_EQ(count(r.out, "Checkpoint — alto para puesta en común"), 1u);
}

TEST(Tour, LessonByAliasJumpsThereAndGoesOn) {
    ProgramResult r = tour({"--lesson", "debug", "--lang", "en", "--no-run"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(contains(r.out, "── " + kTitlesEn[8]));
    EXPECT_TRUE(contains(r.out, "── " + kTitlesEn[9]));
    EXPECT_TRUE(contains(r.out, "── " + kTitlesEn[10]));
    EXPECT_FALSE(contains(r.out, "Live run")) << "--no-run";
}

TEST(Tour, CodeSideBySideWhenWideOneAfterTheOtherWhenNarrow) {
    ProgramResult wide = tour({"--lesson", "a", "--only", "--no-run", "--width", "160"});
    bool same_line = false;
    std::istringstream wide_lines(wide.out);
    for (std::string line; std::getline(wide_lines, line);) {
        same_line = same_line || (contains(line, "from multiprocessing import Process") &&
                                  contains(line, "│ // examples/01_process.cpp"));
    }
    EXPECT_TRUE(same_line) << wide.out;
    ProgramResult narrow = tour({"--lesson", "a", "--only", "--no-run", "--width", "60"});
    EXPECT_TRUE(contains(narrow.out, "  │ def worker():\n"));
    EXPECT_TRUE(contains(narrow.out, "  │ void worker() {\n"));
    std::istringstream lines(narrow.out);
    for (std::string line; std::getline(lines, line);) {
        std::size_t cols = 0;
        for (unsigned char c : line) cols += (c & 0xC0) != 0x80;
        EXPECT_LE(cols, 60u) << "wider than --width 60: " << line;
    }
}

TEST(Tour, BadFlagsFailClearly) {
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    for (const auto& c :
         std::vector<Case>{{{"--lang", "fr"}, "--lang"},
                           {{"--lesson", "z"}, "--lesson"},
                           {{"--bogus"}, "--bogus"},
                           {{"--only"}, "--only requires --lesson"},
                           {{"--width", "5"}, "--width"},
                           {{"--restart"}, "--restart only makes sense with --interactive"}}) {
        ProgramResult r = tour(c.args);
        EXPECT_NE(r.exit_code, 0) << c.args[0];
        EXPECT_TRUE(contains(r.err, c.message)) << c.args[0] << " → " << r.err;
        EXPECT_FALSE(contains(r.out, "── a)")) << "no tour after a bad flag";
    }
}

// ---- the lessons are data ----------------------------------------------------------------

const fs::path kSource = MP_SOURCE_DIR;

/// A copy of the tour's data (tour/lessons, examples) to damage.
fs::path copy_of_the_data() {
    fs::path root = make_temp_dir();
    fs::create_directories(root / "tour");
    fs::copy(kSource / "tour" / "lessons", root / "tour" / "lessons");
    fs::copy(kSource / "examples", root / "examples");
    return root;
}

void write_file(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::trunc) << text;
}

void replace_once(const fs::path& p, const std::string& from, const std::string& to) {
    std::string text = slurp(p);
    auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from << " not in " << p;
    text.replace(at, from.size(), to);
    write_file(p, text);
}

ProgramResult check_lessons(const fs::path& root) {
    return run_program(kTour, {"--check-lessons", root.string()}, "", 60s);
}

TEST(Tour, LessonFilesParseAndEveryLanguageHasTheSameLessonsPartsAndQuestions) {
    ProgramResult ok = check_lessons(kSource);
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_TRUE(contains(ok.out, "lessons ok: 11 lessons, 17 parts")) << ok.out;
    EXPECT_EQ(run_program(kTour, {"--check-lessons"}, "", 60s).exit_code, 0) << "the built-in copy";

    struct Damage {
        std::string file, from, to, message;
    };
    for (const auto& d : std::vector<Damage>{
             {"tour/lessons/k.es.md", "\n## question\n", "\n## nothing\n", "k.es.md:"},
             {"examples/04_queue.cpp", "// tour:begin run\n", "// tour:begin runs\n",
              "no region 'run'"},
             {"tour/lessons/a.es.md", "01_process#main", "01_process#main 01_process#main",
              "other code than in tour/lessons/a.en.md"},
             {"tour/lessons/e.en.md", "\n+ ", "\n- ", "one right answer"},
             {"tour/lessons/d.es.md", "\n## question\n? ",
              "\n## question\n? x\n- y\n+ z\nwhy: w\n\n## question\n? ",
              "questions where tour/lessons/d.en.md has"},
             {"examples/07_pool.cpp", "// tour:end map", "",
              "region 'map' has no '// tour:end map'"},
         }) {
        fs::path root = copy_of_the_data();
        replace_once(root / d.file, d.from, d.to);
        ProgramResult bad = check_lessons(root);
        EXPECT_EQ(bad.exit_code, 1) << d.file << " damaged, yet: " << bad.out;
        EXPECT_TRUE(contains(bad.err, d.message)) << d.file << " → " << bad.err;
        fs::remove_all(root);
    }
    // A missing translation is named; a new language is the copied files.
    fs::path root = copy_of_the_data();
    fs::remove(root / "tour" / "lessons" / "b.es.md");
    ProgramResult missing = check_lessons(root);
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_TRUE(contains(missing.err, "tour/lessons/b.es.md is missing")) << missing.err;
    fs::remove_all(root);
    root = copy_of_the_data();
    for (const auto& e : fs::directory_iterator(kSource / "tour" / "lessons")) {
        std::string name = e.path().filename().string();
        if (name.ends_with(".es.md"))
            fs::copy(e.path(),
                     root / "tour" / "lessons" / (name.substr(0, name.size() - 6) + ".pt.md"));
    }
    ProgramResult added = check_lessons(root);
    EXPECT_EQ(added.exit_code, 0) << added.err;
    fs::remove_all(root);
}

/// The region `name` of an example, as its lines (markers of other regions left out).
std::vector<std::string> region_lines(const std::string& example, const std::string& name) {
    std::istringstream in(slurp(kSource / "examples" / (example + ".cpp")));
    std::vector<std::string> out;
    bool inside = false, closed = false;
    for (std::string line; std::getline(in, line);) {
        std::string t = line.substr(std::min(line.size(), line.find_first_not_of(' ')));
        if (t == "// tour:begin " + name)
            inside = true;
        else if (t == "// tour:end " + name) {
            closed = inside;
            inside = false;
        } else if (inside && !t.starts_with("// tour:"))
            out.push_back(t);
    }
    EXPECT_TRUE(closed) << example << "#" << name << " is not a marked region";
    return out;
}

TEST(Tour, TheCodeShownIsTheCodeOfTheExamplesItRuns) {
    ProgramResult r = tour({"--lang", "en", "--no-run", "--width", "300"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::size_t refs = 0;
    for (const auto& e : fs::directory_iterator(kSource / "tour" / "lessons")) {
        if (!e.path().string().ends_with(".en.md")) continue;
        std::istringstream in(slurp(e.path()));
        for (std::string line; std::getline(in, line);) {
            if (!line.starts_with("code:")) continue;
            std::istringstream refs_in(line.substr(5));
            for (std::string ref; refs_in >> ref;) {
                auto hash = ref.find('#');
                ASSERT_NE(hash, std::string::npos) << ref;
                std::string example = ref.substr(0, hash);
                EXPECT_TRUE(contains(r.out, "│ // examples/" + example + ".cpp")) << ref;
                for (const auto& code : region_lines(example, ref.substr(hash + 1))) {
                    if (code.empty()) continue;
                    EXPECT_TRUE(contains(r.out, code)) << ref << ": not shown: " << code;
                }
                ++refs;
            }
        }
    }
    EXPECT_GE(refs, 30u);
}

TEST(Tour, InteractiveSessionSavesResumesAndReports) {
    Key key = answer_key();
    ASSERT_EQ(key.right.size(), 33u) << "questions in lessons a) to k), predictions included";
    std::string state = make_temp_dir();
    std::vector<std::string> env{"XDG_STATE_HOME=" + state};
    fs::path progress = fs::path(state) / "mp-tour" / "progress";

    // Session 1: lessons a) and b) right, the first question of c), then "q".
    const std::size_t c0 = first_of(key, 'c'), f0 = first_of(key, 'f');
    ASSERT_EQ(c0, 6u);
    std::string input = "x\n";  // not a letter shown: asked again
    for (std::size_t i = 0; i <= c0; ++i) input += std::string(1, key.right[i]) + "\n";
    input += "q\n";
    ProgramResult r1 = tour({"--interactive", "--lang", "en", "--no-run"}, input, env);
    EXPECT_EQ(r1.exit_code, 0) << r1.err;
    EXPECT_TRUE(contains(r1.out, "Please answer with one of the letters shown.")) << r1.out;
    EXPECT_EQ(count(r1.out, "✔ Correct."), c0 + 1) << r1.out;
    EXPECT_TRUE(contains(r1.out, "Progress saved in " + progress.string())) << r1.out;
    EXPECT_TRUE(contains(r1.out, "to resume at lesson c)")) << r1.out;
    EXPECT_FALSE(contains(r1.out, "── " + kTitlesEn[3])) << "stopped inside c)";
    std::string saved = slurp(progress);
    EXPECT_TRUE(contains(saved, "done a\n")) << saved;
    EXPECT_TRUE(contains(saved, "done b\n")) << saved;
    EXPECT_FALSE(contains(saved, "done c\n")) << saved;

    // Session 2: resumes at c); the first questions of c) and f) wrong, asked again, then right.
    input = script(key, c0, {c0, f0});
    fs::path report = fs::path(state) / "report.md";
    ProgramResult r2 =
        tour({"--interactive", "--lang", "en", "--report", report.string()}, input, env);
    EXPECT_EQ(r2.exit_code, 0) << r2.err;
    EXPECT_TRUE(contains(r2.out, "Welcome back: resuming at lesson c) (2 of 11 done)"))
        << r2.out.substr(0, 2000);
    EXPECT_FALSE(contains(r2.out, "── " + kTitlesEn[0])) << "lessons done are not shown again";
    EXPECT_TRUE(contains(r2.out, "── " + kTitlesEn[2]));
    EXPECT_TRUE(contains(r2.out, "── " + kTitlesEn[10]));
    EXPECT_EQ(count(r2.out, "✘ Not quite."), 2u);
    EXPECT_EQ(count(r2.out, "Once more — the questions you missed in this block"), 2u) << r2.out;
    EXPECT_TRUE(contains(r2.out, "Live run: examples/03_pipe — PID "))
        << "programs run in interactive mode";
    EXPECT_TRUE(contains(r2.out, "Session report written to " + report.string()));
    EXPECT_FALSE(fs::exists(progress)) << "a finished session leaves no progress behind";

    std::string md = slurp(report);
    for (auto section :
         {"# Session report", "## 1. Structure followed", "## 2. Clarity and depth",
          "## 3. Where the student needed clarification", "## 4. Application and reflection",
          "## 5. Suggestions for next time", "**Summary:**"}) {
        EXPECT_TRUE(contains(md, section)) << section << "\n" << md;
    }
    EXPECT_TRUE(contains(md, "checkpoint answers: 31/33")) << md;
    EXPECT_TRUE(contains(md, "- [x] " + kTitlesEn[0] + " — 3/3 correct")) << md;
    EXPECT_TRUE(contains(md, "Asked again at the end of the block: right.")) << md;
    EXPECT_TRUE(contains(md, "- [x] " + kTitlesEn[2] + " — 2/3 correct")) << md;
    EXPECT_TRUE(contains(md, "stopped and resumed from saved progress 1 time.")) << md;
    EXPECT_TRUE(contains(md, "**c)** What is the practical difference between Queue and Pipe?"))
        << md;
    EXPECT_TRUE(contains(md, "**f)** What is Python's Value('d', 0.0) in mp?")) << md;
    EXPECT_TRUE(contains(md, "Clarification given:")) << md;
    EXPECT_TRUE(contains(md, "Revisit lesson c) (Pipe vs Queue)")) << md;
    EXPECT_TRUE(contains(md, "`03_pipe` (exit code 0)")) << md;
    EXPECT_TRUE(contains(md, "`13_threads_vs_processes` (exit code 0)")) << md;
    EXPECT_TRUE(contains(md, "11/11 blocks completed")) << md;
    fs::remove_all(state);
}

TEST(Tour, InteractiveInSpanishEndOfInputSavesAndTheReportIsSpanish) {
    Key key = answer_key();
    ASSERT_EQ(key.right.size(), 33u);
    std::string state = make_temp_dir();
    std::vector<std::string> env{"XDG_STATE_HOME=" + state};
    // Lesson k) only (its three questions), the first one wrong; then the report.
    const std::size_t k0 = first_of(key, 'k');
    ASSERT_EQ(key.right.size() - k0, 3u);
    std::string input = script(key, k0, {k0});
    ProgramResult r =
        tour({"--interactive", "--lang", "es", "--lesson", "k", "--no-run"}, input, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "✘ No exactamente.")) << r.out;
    EXPECT_TRUE(contains(r.out, "Informe de la sesión escrito en ")) << r.out;
    std::vector<fs::path> reports;
    for (const auto& e : fs::directory_iterator(fs::path(state) / "mp-tour")) {
        if (e.path().filename().string().starts_with("report-")) reports.push_back(e.path());
    }
    ASSERT_EQ(reports.size(), 1u);
    std::string md = slurp(reports[0]);
    for (auto section :
         {"# Análisis de la sesión", "## 1. Estructura de la sesión",
          "## 2. Claridad y profundidad", "## 3. Dónde el estudiante necesitó aclaraciones",
          "## 4. Aplicación y reflexión", "## 5. Observaciones y sugerencias para la próxima vez",
          "**Resumen:**"}) {
        EXPECT_TRUE(contains(md, section)) << section << "\n" << md;
    }
    EXPECT_TRUE(contains(md, "respuestas en los altos: 2/3 (67 %)")) << md;  // rounded
    EXPECT_TRUE(
        contains(md, "Hecho por el estudiante (ejercicios superados en mp-tour practice): 0/"))
        << md;
    EXPECT_TRUE(contains(md, "- [ ] " + kTitlesEs[0] + " — no alcanzada")) << md;
    EXPECT_TRUE(contains(md, "Completar los bloques no alcanzados: a), b)")) << md;

    // End of input in the middle of a checkpoint saves progress and exits cleanly.
    ProgramResult cut =
        tour({"--interactive", "--lang", "es", "--no-run"},
             std::string(1, key.right[0]) + "\n" + key.right[1] + "\n" + key.right[2] + "\n",
             env);  // lesson a), then the end
    EXPECT_EQ(cut.exit_code, 0) << cut.err;
    EXPECT_TRUE(contains(cut.out, "Progreso guardado en ")) << cut.out;
    EXPECT_TRUE(contains(cut.out, "mp-tour --interactive --lang es"))
        << "the resume hint keeps the language";
    EXPECT_TRUE(fs::exists(fs::path(state) / "mp-tour" / "progress"));
    // Resumed without --lang (and an English $LANG), the session goes on in Spanish.
    std::vector<std::string> env_en = env;
    env_en.push_back("LANG=en_US.UTF-8");
    ProgramResult resumed = tour({"--interactive", "--no-run"}, "q\n", env_en);
    EXPECT_TRUE(contains(resumed.out, "Bienvenido de nuevo")) << resumed.out;
    fs::remove_all(state);
}

// ---- checkpoints a student could get wrong ----------------------------------------------

TEST(Tour, TheRightAnswerIsNeitherUsuallyTheLongestNorAlwaysAtTheSameLetter) {
    for (const std::string lang : {"en", "es"}) {
        std::size_t questions = 0, longest = 0, predictions = 0;
        std::map<std::size_t, std::size_t> at;  // position of the right option → how often
        for (const auto& e : fs::directory_iterator(kSource / "tour" / "lessons")) {
            if (!e.path().string().ends_with("." + lang + ".md")) continue;
            std::istringstream in(slurp(e.path()));
            std::vector<std::pair<bool, std::size_t>> options;  // right?, length in code points
            auto close = [&] {
                if (options.empty()) return;
                ++questions;
                std::size_t right = 0, pos = 0, longest_wrong = 0;
                for (std::size_t i = 0; i < options.size(); ++i) {
                    if (options[i].first) {
                        right = options[i].second;
                        pos = i;
                    } else {
                        longest_wrong = std::max(longest_wrong, options[i].second);
                    }
                }
                longest += right > longest_wrong ? 1 : 0;
                ++at[pos];
                options.clear();
            };
            for (std::string line; std::getline(in, line);) {
                if (line.starts_with("## ")) close();
                if (line == "## predict") ++predictions;
                if (line.starts_with("- ") || line.starts_with("+ ")) {
                    std::size_t cols = 0;
                    for (unsigned char c : line) cols += (c & 0xC0) != 0x80;
                    options.emplace_back(line[0] == '+', cols);
                }
            }
            close();
        }
        EXPECT_GE(questions, 30u) << lang;
        EXPECT_GE(predictions, 4u) << lang << ": questions asked before a run";
        EXPECT_LE(longest * 4, questions)
            << lang << ": the right answer is the longest in " << longest << " of " << questions
            << " questions — write distractors a student could believe";
        for (auto [pos, n] : at) {
            EXPECT_LE(n * 2, questions) << lang << ": the right answer is " << char('a' + pos)
                                        << ") in " << n << " of " << questions << " questions";
        }
    }
}

// ---- at the student's pace: an interactive run at a terminal ----------------------------

/// mp-tour on a pseudo-terminal, as a student at a keyboard runs it.
class Terminal {
  public:
    Terminal(const std::vector<std::string>& args, const std::vector<std::string>& env) {
        winsize ws{};
        ws.ws_col = 120;
        ws.ws_row = 40;
        pid_ = forkpty(&fd_, nullptr, nullptr, &ws);
        if (pid_ == 0) {
            for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
            std::vector<char*> argv{const_cast<char*>(kTour.c_str())};
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            execv(kTour.c_str(), argv.data());
            _exit(127);
        }
    }
    ~Terminal() {
        if (fd_ >= 0) close(fd_);
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    /// Reads until `what` appears after the last match (30 s at most); false if it never does.
    bool expect(const std::string& what) {
        auto deadline = std::chrono::steady_clock::now() + 30s;
        while (true) {
            auto at = seen_.find(what, from_);
            if (at != std::string::npos) {
                from_ = at + what.size();
                return true;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
            char buf[4096];
            ssize_t n = read(fd_, buf, sizeof buf);
            if (n <= 0) return false;
            seen_.append(buf, static_cast<std::size_t>(n));
        }
    }
    void type(const std::string& line) {
        std::string s = line + "\n";
        ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
    }
    /// Waits for the end; the exit code.
    int wait() {
        std::string rest;
        while (expect("\x01never")) {
        }
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    [[nodiscard]] const std::string& seen() const { return seen_; }
    [[nodiscard]] std::string since(std::size_t pos) const { return seen_.substr(pos); }
    [[nodiscard]] std::size_t at() const { return from_; }

  private:
    int fd_ = -1;
    pid_t pid_ = -1;
    std::string seen_;
    std::size_t from_ = 0;
};

TEST(Tour, InteractiveAtATerminalPausesBetweenExplanationCodeRunAndQuestions) {
    Key key = answer_key();
    ASSERT_GE(key.right.size(), 3u);
    ASSERT_EQ(key.lesson[2], 'a');
    std::string state = make_temp_dir();
    Terminal t({"--interactive", "--lesson", "a", "--only", "--lang", "es", "--no-color"},
               {"XDG_STATE_HOME=" + state, "MP_LANG=es"});
    const std::string pause = "[Enter: seguir · q: guardar y salir]";
    // 1. the explanation, then a pause before any code
    ASSERT_TRUE(t.expect("Un proceso es una instancia de programa")) << t.seen();
    ASSERT_TRUE(t.expect(pause)) << t.seen();
    EXPECT_FALSE(contains(t.seen(), "mp::Process p(worker);")) << "code shown before Enter";
    t.type("");
    // 2. the code, then a pause before the prediction
    ASSERT_TRUE(t.expect("mp::Process p(worker);")) << t.seen();
    ASSERT_TRUE(t.expect(pause)) << t.seen();
    EXPECT_FALSE(contains(t.since(t.at()), "Predice")) << t.seen();
    t.type("");
    // 3. the prediction, asked before the run (and answered after it)
    ASSERT_TRUE(t.expect("Predice antes de ejecutar")) << t.seen();
    ASSERT_TRUE(t.expect("Tu respuesta")) << t.seen();
    t.type(std::string(1, key.right[0]));
    ASSERT_TRUE(t.expect("✔ Correcto.")) << t.seen();
    ASSERT_TRUE(t.expect(pause)) << t.seen();
    t.type("");
    // 4. the checkpoint: one right, one wrong — asked again at the end of the block
    ASSERT_TRUE(t.expect("Alto para puesta en común")) << t.seen();
    ASSERT_TRUE(t.expect("Tu respuesta")) << t.seen();
    t.type(std::string(1, key.right[1]));
    ASSERT_TRUE(t.expect("Tu respuesta")) << t.seen();
    t.type(std::string(1, wrong_for(key.right[2])));
    ASSERT_TRUE(t.expect("✘ No exactamente.")) << t.seen();
    ASSERT_TRUE(t.expect("Otra vez — las preguntas que fallaste en este bloque")) << t.seen();
    ASSERT_TRUE(t.expect("Tu respuesta")) << t.seen();
    t.type(std::string(1, key.right[2]));
    ASSERT_TRUE(t.expect("✔ Correcto.")) << t.seen();
    ASSERT_TRUE(t.expect("Lección a) terminada. Siguiente: mp-tour --lesson b")) << t.seen();
    EXPECT_EQ(t.wait(), 0) << t.seen();
    std::string saved = slurp(fs::path(state) / "mp-tour" / "progress");
    EXPECT_TRUE(contains(saved, "done a\n")) << saved;
    EXPECT_TRUE(contains(saved, " retry\n")) << "the second try is kept: " << saved;
    fs::remove_all(state);
}
