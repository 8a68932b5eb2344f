// mp-tour — the guided tour of mp, the project's main program.
//
// It walks the study guides' lessons a) to f), the final exercise, the
// mini-exercises, the combined exercise, the debugging pairs and the comparison
// of threads, processes and async. For each lesson: a short explanation, the
// Python code beside the mp code, a live run of the example program (a real
// child process), and the checkpoint with the review questions.
//
//   mp-tour                    everything, straight through
//   mp-tour --lang es          in Spanish
//   mp-tour --lesson d         from lesson d) on (--only: just that lesson)
//   mp-tour --list             the lessons
//   mp-tour --interactive      stop at each checkpoint and ask; resumable; writes a report
//   mp-tour practice [ID]      the exercises: list, or build, run and check one (practice.hpp)
//   mp-tour run NN             rebuild one example and run it
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "lessons.hpp"
#include "practice.hpp"
#include "render.hpp"
#include "runner.hpp"
#include "session.hpp"

namespace fs = std::filesystem;
using namespace tour;

namespace {

struct Options {
    Lang lang = Lang::en;
    Style style;
    fs::path examples;
    bool interactive = false;
    bool run_programs = true;
};

/// build/tour/mp-tour → build/examples; else the build tree this binary was configured in.
fs::path default_examples_dir() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        fs::path near = self.parent_path().parent_path() / "examples";
        if (fs::is_directory(near, ec)) return near;
    }
    return MP_TOUR_EXAMPLES_DIR;
}

int index_of(std::string_view id_or_alias) {
    const auto& all = lessons();
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (all[i].id == id_or_alias || all[i].alias == id_or_alias) return static_cast<int>(i);
    }
    return -1;
}

void print_list(const Options& o) {
    std::printf("%s\n", std::string(phrases().list_heading(o.lang)).c_str());
    for (const auto& l : lessons()) {
        std::string programs;
        for (const auto& part : l.parts) {
            for (const auto& p : part.programs) programs += (programs.empty() ? "" : " ") + p;
        }
        std::printf("  %-2s %-10s %s\n       %s\n", std::string(l.id).c_str(),
                    std::string(l.alias).c_str(), std::string(l.title(o.lang)).c_str(),
                    programs.c_str());
    }
}

void run_program(const Options& o, std::string_view name, Progress& progress) {
    const Style& st = o.style;
    fs::path path = o.examples / name;
    std::string shown = "examples/" + std::string(name);
    if (!fs::exists(path)) {
        std::printf("  %s %s %s (%s)\n", paint(st, "▶", ansi::red).c_str(),
                    paint(st, phrases().not_built(o.lang), ansi::red).c_str(), shown.c_str(),
                    std::string(owner_of(name)).c_str());
        print_wrapped(stdout, st, phrases().not_built_hint(o.lang), 4);
        progress.runs.push_back({std::string(name), 0, false});
        return;
    }
    RunOptions ro;
    ro.env = {std::string("MP_LANG=") + (o.lang == Lang::es ? "es" : "en")};
    ro.running_word = o.lang == Lang::es ? "ejecutando…" : "running…";
    RunResult r = run_live(stdout, st, path.string(), ro, [&](int pid) {
        std::printf("  %s %s: %s — PID %d\n", paint(st, "▶", ansi::green).c_str(),
                    std::string(phrases().live_run(o.lang)).c_str(),
                    paint(st, shown, ansi::bold).c_str(), pid);
    });
    if (!r.started) {
        std::printf("  %s %s: %s\n", paint(st, "▶", ansi::red).c_str(), shown.c_str(),
                    r.output.c_str());
        progress.runs.push_back({std::string(name), 127, true});
        return;
    }
    std::string how;
    if (r.timed_out) {
        how = paint(st, std::string(phrases().timed_out(o.lang)), ansi::red);
    } else if (r.exit_code < 0) {
        how =
            paint(st, std::string(phrases().killed_by(o.lang)) + " " + std::to_string(-r.exit_code),
                  ansi::red);
    } else {
        how = std::string(phrases().exit_code(o.lang)) + " " + std::to_string(r.exit_code);
    }
    std::printf("  %s %s · %.2f s\n",
                paint(st, "■", r.exit_code == 0 ? ansi::green : ansi::red).c_str(), how.c_str(),
                r.seconds);
    progress.runs.push_back({std::string(name), r.exit_code, true});
}

/// Waits for Enter between the steps of a lesson (explanation, code, run, questions) when a
/// student types at a terminal (--interactive). Returns false if the student quits (q, end).
bool pause(const Options& o) {
    if (!o.interactive || !isatty(STDIN_FILENO)) return true;
    std::printf("%s", paint(o.style, std::string(phrases().pause(o.lang)), ansi::magenta).c_str());
    std::fflush(stdout);
    std::string line;
    if (!std::getline(std::cin, line)) {
        std::printf("\n");
        return false;
    }
    auto first = line.find_first_not_of(" \t\r");
    return first == std::string::npos ||
           std::tolower(static_cast<unsigned char>(line[first])) != 'q';
}

/// Asks one question; returns the chosen option, or -1 if the student quits (q or end of input).
int ask(const Options& o, const Question& q) {
    const auto& ph = phrases();
    while (true) {
        std::printf("%s", std::string(ph.answer_prompt(o.lang)).c_str());
        std::fflush(stdout);
        std::string line;
        if (!std::getline(std::cin, line)) {
            std::printf("\n");
            return -1;
        }
        if (!isatty(STDIN_FILENO))
            std::printf("%s\n", line.c_str());  // scripted answers: show them
        auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos) {
            std::printf("%s\n", std::string(ph.answer_invalid(o.lang)).c_str());
            continue;
        }
        char c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[first])));
        if (c == 'q') return -1;
        int i = c - 'a';
        if (i >= 0 && i < static_cast<int>(q.options.size()) &&
            line.find_first_not_of(" \t\r", first + 1) == std::string::npos) {
            return i;
        }
        std::printf("%s\n", std::string(ph.answer_invalid(o.lang)).c_str());
    }
}

char letter(int i) {
    return static_cast<char>('a' + i);
}

/// Prints a question and its options; ✔ marks the right one when `mark` (the tour straight
/// through shows the answers of the checkpoint; a prediction's answer comes after the run).
void present(const Options& o, const Question& q, const std::string& number, bool mark) {
    std::printf("\n");
    bool counted = !number.empty() && std::isdigit(static_cast<unsigned char>(number[0]));
    print_wrapped(stdout, o.style, number + (counted ? ". " : " ") + std::string(q.text(o.lang)),
                  0);
    for (std::size_t k = 0; k < q.options.size(); ++k) {
        std::string tick = mark && static_cast<int>(k) == q.correct ? " ✔" : "";
        print_wrapped(stdout, o.style,
                      "   " + std::string(1, letter(static_cast<int>(k))) + ") " +
                          std::string(q.options[k](o.lang)) + tick,
                      0);
    }
}

/// What the tour says once a question is answered (or, straight through, in its place).
void verdict(const Options& o, const Question& q, int chosen) {
    const Style& st = o.style;
    const auto& ph = phrases();
    std::string expl(q.explanation(o.lang));
    if (chosen < 0) {
        print_wrapped(stdout, st,
                      "   → " + std::string(ph.the_answer_is(o.lang)) + " " +
                          std::string(1, letter(q.correct)) + ") " + expl,
                      0);
        return;
    }
    bool ok = chosen == q.correct;
    std::string v = ok ? paint(st, "✔ " + std::string(ph.correct(o.lang)), ansi::green)
                       : paint(st, "✘ " + std::string(ph.not_quite(o.lang)), ansi::red) + " " +
                             std::string(ph.the_answer_is(o.lang)) + ": " +
                             std::string(1, letter(q.correct)) + ").";
    std::printf("   %s\n", v.c_str());
    print_wrapped(stdout, st, "   " + expl, 0);
}

/// One block's questions and answers while it is shown; committed to the progress at its end.
struct Block {
    const Lesson& lesson;
    std::vector<Answer> answers;
};

/// Shows one part: code, prediction questions, the live run, what to notice.
/// Returns false if the student chose to stop.
bool show_part(const Options& o, Block& block, int part_index, Progress& progress) {
    const Style& st = o.style;
    const Part& part = block.lesson.parts[static_cast<std::size_t>(part_index)];
    std::printf("\n%s %s\n", paint(st, "▸", ansi::bold).c_str(),
                paint(st, part.title(o.lang), ansi::bold).c_str());
    if (!part.python_note(o.lang).empty()) {
        print_wrapped(stdout, st, "(" + std::string(part.python_note(o.lang)) + ")", 2);
    }
    std::printf("\n");
    // "Python (the guides)" only where the code is the guides' own; the note says where the rest
    // comes from.
    std::string_view python_heading =
        part.python_note(o.lang).empty() ? phrases().python_heading(o.lang) : "Python";
    print_code_pair(stdout, st, python_heading, std::string(part.python(o.lang)),
                    phrases().mp_heading(o.lang), std::string(part.mp(o.lang)));
    std::printf("\n");
    if (!pause(o)) return false;
    // Predictions: asked before the run, answered after it.
    std::vector<std::pair<int, int>> asked;  // question index, chosen (-1: straight through)
    const auto& qs = block.lesson.questions;
    for (std::size_t qi = 0; qi < qs.size(); ++qi) {
        if (qs[qi].part != part_index) continue;
        if (asked.empty()) print_rule(stdout, st, phrases().predict(o.lang), {}, ansi::magenta);
        present(o, qs[qi], "?", false);
        int chosen = -1;
        if (o.interactive) {
            chosen = ask(o, qs[qi]);
            if (chosen < 0) return false;
        }
        asked.emplace_back(static_cast<int>(qi), chosen);
    }
    if (o.run_programs) {
        if (!asked.empty()) std::printf("\n");
        for (const auto& name : part.programs) run_program(o, name, progress);
    }
    for (auto [qi, chosen] : asked) {
        const Question& q = qs[static_cast<std::size_t>(qi)];
        std::printf("\n");
        print_wrapped(stdout, st, "? " + std::string(q.text(o.lang)), 0);
        verdict(o, q, chosen);
        if (o.interactive)
            block.answers.push_back({block.lesson.id, qi, chosen, chosen == q.correct, false});
    }
    if (!part.after(o.lang).empty()) {
        std::printf("\n");
        print_wrapped(stdout, st, part.after(o.lang), 2);
    }
    return pause(o);
}

/// The checkpoint, then the questions missed in the block asked once more.
/// Returns false if the student chose to stop.
bool checkpoint(const Options& o, Block& block) {
    const Style& st = o.style;
    const auto& ph = phrases();
    const Lesson& l = block.lesson;
    std::printf("\n");
    print_rule(stdout, st, ph.checkpoint(o.lang), {}, ansi::magenta);
    int number = 0;
    for (std::size_t qi = 0; qi < l.questions.size(); ++qi) {
        const Question& q = l.questions[qi];
        if (q.part >= 0) continue;
        present(o, q, std::to_string(++number), !o.interactive);
        int chosen = -1;
        if (o.interactive) {
            chosen = ask(o, q);
            if (chosen < 0) return false;
            block.answers.push_back(
                {l.id, static_cast<int>(qi), chosen, chosen == q.correct, false});
        }
        verdict(o, q, chosen);
    }
    std::vector<int> missed;
    for (const auto& a : block.answers) {
        if (!a.correct) missed.push_back(a.question);
    }
    if (missed.empty()) return true;
    std::printf("\n");
    print_rule(stdout, st, ph.again(o.lang), {}, ansi::magenta);
    for (int qi : missed) {
        const Question& q = l.questions[static_cast<std::size_t>(qi)];
        present(o, q, "↻", false);
        int chosen = ask(o, q);
        if (chosen < 0) return false;
        block.answers.push_back({l.id, qi, chosen, chosen == q.correct, true});
        verdict(o, q, chosen);
    }
    return true;
}

/// The lesson files and examples of a source tree (what `--check-lessons DIR` reads).
SourceFiles read_source_files(const fs::path& root) {
    SourceFiles files;
    for (const char* dir : {"tour/lessons", "examples"}) {
        if (!fs::is_directory(root / dir))
            throw std::runtime_error((root / dir).string() + " is not a directory");
        for (const auto& e : fs::directory_iterator(root / dir)) {
            if (!e.is_regular_file()) continue;
            std::ifstream in(e.path(), std::ios::binary);
            std::ostringstream text;
            text << in.rdbuf();
            files.emplace(std::string(dir) + "/" + e.path().filename().string(), text.str());
        }
    }
    return files;
}

/// The language asked for on the command line (--lang es, --lang=es), else from $LANG.
Lang language_of(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--lang" && i + 1 < argc)
            return std::string_view(argv[i + 1]) == "es" ? Lang::es : Lang::en;
        if (a.starts_with("--lang=")) return a.substr(7) == "es" ? Lang::es : Lang::en;
    }
    if (const char* env = std::getenv("LANG");
        env != nullptr && std::string_view(env).starts_with("es"))
        return Lang::es;
    return Lang::en;
}

/// A command-line error in the tour's language, with what to do.
int parse_error(const CLI::App& app, const CLI::ParseError& e, Lang lang) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    Say say{lang};
    std::string what = e.what();
    std::string msg = what;
    if (lang == Lang::es) {
        // CLI11 speaks English: keep the option and the values, say the rest in Spanish.
        auto colon = what.find(':');
        std::string detail = colon == std::string::npos ? what : what.substr(colon + 1);
        for (auto [en, es] :
             {std::pair{" not in ", " no está en "}, std::pair{" requires ", " requiere "},
              std::pair{" excludes ", " excluye "}}) {
            for (auto at = detail.find(en); at != std::string::npos; at = detail.find(en, at)) {
                detail.replace(at, std::string_view(en).size(), es);
            }
        }
        std::string option = colon == std::string::npos ? "" : what.substr(0, colon);
        if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
            msg = "esto no se esperaba:" + detail;
        } else if (dynamic_cast<const CLI::ValidationError*>(&e) != nullptr ||
                   dynamic_cast<const CLI::ConversionError*>(&e) != nullptr) {
            msg = option + ": un valor no permitido:" + detail;
        } else if (dynamic_cast<const CLI::RequiresError*>(&e) != nullptr) {
            msg = "una opción necesita otra: " + detail;
        } else if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
            msg = option + ": falta su valor o sobran valores";
        } else if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
            msg = "falta un argumento obligatorio:" + detail;
        } else {
            msg = "no se puede leer la línea de órdenes (" + what + ")";
        }
    }
    std::fprintf(stderr, "mp-tour: %s\n%s\n", msg.c_str(),
                 say("See: mp-tour --help", "Mira: mp-tour --help --lang es").c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    const Lang lang0 = language_of(argc, argv);
    // The lesson files are data: a damaged one is reported, not a crash.
    // `mp-tour --check-lessons [DIR]` checks the built-in files, or those of a source tree DIR.
    if (argc >= 2 && std::string_view(argv[1]) == "--check-lessons") {
        try {
            SourceFiles files = argc >= 3 ? read_source_files(argv[2]) : builtin_files();
            auto all = load_lessons(files);
            std::size_t parts = 0, questions = 0;
            for (const auto& l : all) {
                parts += l.parts.size();
                questions += l.questions.size();
            }
            std::printf("lessons ok: %zu lessons, %zu parts, %zu questions\n", all.size(), parts,
                        questions);
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "mp-tour: %s\n", e.what());
            return 1;
        }
    }
    try {
        lessons();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mp-tour: the built-in lessons cannot be read: %s\n", e.what());
        return 1;
    }
    Say say{lang0};
    CLI::App app{say(
        "mp-tour — a guided tour of mp, Python's multiprocessing in C++.\n"
        "Walks the study guides' lessons a) to k): explanation, Python beside mp, a live run, a "
        "checkpoint. Then practise: mp-tour practice.",
        "mp-tour — un recorrido guiado por mp, el multiprocessing de Python en C++.\n"
        "Recorre las lecciones a) a k) de las guías: explicación, Python junto a mp, una ejecución "
        "en vivo, un alto para puesta en común. Luego practica: mp-tour practice.")};
    app.get_formatter()->label("OPTIONS", say("OPTIONS", "OPCIONES"));
    app.get_formatter()->label("SUBCOMMANDS", say("SUBCOMMANDS", "SUBCOMANDOS"));
    app.get_formatter()->label("POSITIONALS", say("POSITIONALS", "POSICIONALES"));
    app.get_formatter()->label("Usage", say("Usage", "Uso"));
    app.get_formatter()->label("TEXT", say("TEXT", "TEXTO"));
    app.get_formatter()->label("INT", say("INT", "ENTERO"));
    app.get_formatter()->label("REQUIRED", say("REQUIRED", "OBLIGATORIO"));
    app.get_formatter()->label("Needs", say("Needs", "Requiere"));
    app.set_help_flag("-h,--help", say("Print this help and exit", "Muestra esta ayuda y sale"));
    std::string lang = lang0 == Lang::es ? "es" : "en";
    std::vector<std::string> ids;
    for (const auto& l : lessons()) {
        ids.emplace_back(l.id);
        ids.emplace_back(l.alias);
    }
    std::string lesson;
    bool only = false, list = false, interactive = false, restart = false, no_run = false,
         no_color = false;
    int width = 0;
    std::string examples_dir, report_path;
    app.add_option("--lang", lang,
                   say("Language of the tour: en or es (default: from $LANG)",
                       "Idioma del recorrido: en o es (por defecto: según $LANG)"))
        ->check(CLI::IsMember({"en", "es"}));
    auto* lesson_opt =
        app.add_option("--lesson", lesson,
                       say("Start at this lesson: a … k, or its alias (see --list)",
                           "Empieza en esta lección: a … k, o su alias (ver --list)"))
            ->check(CLI::IsMember(ids));
    app.add_flag(
           "--only", only,
           say("With --lesson: show that lesson only", "Con --lesson: muestra solo esa lección"))
        ->needs(lesson_opt);
    app.add_flag("--list", list, say("List the lessons and exit", "Lista las lecciones y sale"));
    app.add_flag(
        "--interactive,-i", interactive,
        say("Stop at each checkpoint and ask the questions; save progress; write a session report",
            "Se detiene en cada alto y hace las preguntas; guarda el progreso; escribe un informe "
            "de la sesión"));
    app.add_flag("--restart", restart,
                 say("With --interactive: forget saved progress and start over",
                     "Con --interactive: olvida el progreso guardado y empieza de cero"));
    app.add_flag("--no-run", no_run,
                 say("Do not run the example programs", "No ejecuta los programas de ejemplo"));
    app.add_option("--width", width,
                   say("Columns to use (default: the terminal's)",
                       "Columnas a usar (por defecto: las de la terminal)"))
        ->check(CLI::Range(40, 400));
    app.add_flag("--no-color", no_color,
                 say("No colours or spinner", "Sin colores ni indicador de actividad"));
    app.add_option(
        "--examples-dir", examples_dir,
        say("Where the built example programs are (default: build/examples)",
            "Dónde están los programas de ejemplo compilados (por defecto: build/examples)"));
    app.add_option("--report", report_path,
                   say("With --interactive: write the session report to this file",
                       "Con --interactive: escribe el informe de la sesión en este archivo"));

    PracticeRequest prq;
    std::string prq_file, prq_dir;
    auto* practice = app.add_subcommand(
        "practice",
        say("Exercises checked by the tour: the list; ID builds, runs and checks one",
            "Ejercicios que verifica el recorrido: la lista; ID compila, ejecuta y verifica uno"));
    practice->fallthrough();
    practice->add_option("id", prq.id,
                         say("The exercise (a1 … k1; see mp-tour practice)",
                             "El ejercicio (a1 … k1; ver mp-tour practice)"));
    practice->add_flag("--hint", prq.hint,
                       say("One more hint each time", "Una pista más cada vez"));
    practice->add_flag("--watch", prq.watch,
                       say("Re-check each time an exercise file is saved",
                           "Vuelve a verificar cada vez que se guarda un archivo de ejercicio"));
    practice->add_flag(
        "--all", prq.all,
        say("Check every exercise (with --dir: another tree, e.g. solutions)",
            "Verifica todos los ejercicios (con --dir: otro árbol, p. ej. solutions)"));
    practice->add_option("--file", prq_file,
                         say("Check this file instead of the exercise's own",
                             "Verifica este archivo en lugar del propio del ejercicio"));
    practice->add_option("--dir", prq_dir,
                         say("The exercises tree (default: exercises/ of the sources)",
                             "El árbol de ejercicios (por defecto: exercises/ de las fuentes)"));
    practice
        ->add_option("--jobs,-j", prq.jobs,
                     say("With --all: exercises checked at once",
                         "Con --all: ejercicios verificados a la vez"))
        ->check(CLI::Range(1, 64));
    std::string run_number;
    auto* run =
        app.add_subcommand("run", say("Rebuild one example (NN or its name) and run it",
                                      "Recompila un ejemplo (NN o su nombre) y lo ejecuta"));
    run->fallthrough();
    run->add_option("example", run_number,
                    say("The example: 07, 07_pool …", "El ejemplo: 07, 07_pool …"))
        ->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return parse_error(app, e, lang0);
    }

    Options o;
    o.lang = lang == "es" ? Lang::es : Lang::en;
    o.style = detect_style();
    if (width > 0) o.style.width = width;
    if (no_color) o.style.color = false;
    o.examples = examples_dir.empty() ? default_examples_dir() : fs::path(examples_dir);
    o.interactive = interactive;
    o.run_programs = !no_run;
    if (*practice) {
        prq.file = prq_file;
        prq.dir = prq_dir;
        return practice_main(prq, o.lang, o.style);
    }
    if (*run) return run_example_main(run_number, o.lang, o.style);

    if (list) {
        print_list(o);
        return 0;
    }
    if (restart && !interactive) {
        std::fprintf(stderr, "mp-tour: %s\n",
                     Say{o.lang}("--restart only makes sense with --interactive",
                                 "--restart solo tiene sentido con --interactive")
                         .c_str());
        return 2;
    }

    const auto& all = lessons();
    const auto& ph = phrases();
    int first = lesson.empty() ? 0 : index_of(lesson);

    Progress progress;
    progress.started = std::time(nullptr);
    fs::path progress_file;
    if (interactive) {
        try {
            progress_file = state_dir() / "progress";
        } catch (const std::exception& e) {
            std::fprintf(stderr, "mp-tour: %s\n", e.what());
            return 2;
        }
        if (restart) fs::remove(progress_file);
        if (auto saved = load_progress(progress_file); saved && !saved->done.empty()) {
            progress = *saved;
            // The language of the saved session, unless this command names one.
            bool named = false;
            for (int i = 1; i < argc; ++i)
                named = named || std::string_view(argv[i]).starts_with("--lang");
            if (!named && !progress.lang.empty())
                o.lang = progress.lang == "es" ? Lang::es : Lang::en;
            progress.resumes += 1;
            if (lesson.empty()) {
                first = static_cast<int>(all.size());
                for (std::size_t i = 0; i < all.size(); ++i) {
                    if (!progress.is_done(all[i].id)) {
                        first = static_cast<int>(i);
                        break;
                    }
                }
            }
        }
    }

    progress.lang = o.lang == Lang::es ? "es" : "en";
    const Style& st = o.style;
    auto t0 = std::chrono::steady_clock::now();
    print_rule(stdout, st, ph.welcome(o.lang), {}, ansi::bold);
    print_wrapped(stdout, st, ph.welcome_body(o.lang));
    if (!ph.programs_in_english(o.lang).empty())
        print_wrapped(stdout, st, ph.programs_in_english(o.lang));
    if (interactive && progress.resumes > 0 && first < static_cast<int>(all.size())) {
        std::string msg = fill(ph.resume(o.lang),
                               {std::string(all[static_cast<std::size_t>(first)].id) + ")",
                                std::to_string(progress.done.size()), std::to_string(all.size())});
        std::printf("\n%s\n", paint(st, msg, ansi::bold).c_str());
    }

    for (std::size_t i = static_cast<std::size_t>(first); i < all.size(); ++i) {
        const Lesson& l = all[i];
        if (interactive && lesson.empty() && progress.is_done(l.id)) continue;
        std::printf("\n");
        print_rule(stdout, st, l.title(o.lang),
                   std::string(ph.lesson_word(o.lang)) + " " + std::to_string(i + 1) + "/" +
                       std::to_string(all.size()),
                   ansi::bold);
        print_wrapped(stdout, st, l.intro(o.lang));
        Block block{l, {}};
        bool go_on = pause(o);
        for (std::size_t k = 0; go_on && k < l.parts.size(); ++k)
            go_on = show_part(o, block, static_cast<int>(k), progress);
        go_on = go_on && checkpoint(o, block);
        if (go_on)
            progress.answers.insert(progress.answers.end(), block.answers.begin(),
                                    block.answers.end());
        if (!go_on) {
            if (!interactive) return 0;
            save_progress(progress_file, progress);
            std::printf("\n%s\n", fill(ph.saved_and_quit(o.lang),
                                       {progress_file.string(), std::string(l.id) + ")"})
                                      .c_str());
            return 0;
        }
        if (interactive) {
            if (!progress.is_done(l.id)) progress.done.emplace_back(l.id);
            save_progress(progress_file, progress);
        }
        if (only) break;
    }

    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bool reached_end = !only || first == static_cast<int>(all.size()) - 1;
    std::printf("\n");
    if (reached_end) {
        print_rule(stdout, st, ph.finished(o.lang), {}, ansi::bold);
        print_wrapped(stdout, st, ph.end_body(o.lang));
    } else {
        const auto& next = all[static_cast<std::size_t>(first) + 1];
        print_wrapped(
            stdout, st,
            fill(ph.only_done(o.lang), {std::string(all[static_cast<std::size_t>(first)].id) + ")",
                                        std::string(next.id)}));
    }
    std::printf("(%s %.1f s)\n", std::string(ph.total_time(o.lang)).c_str(), secs);

    if (interactive && reached_end) {
        std::time_t now = std::time(nullptr);
        fs::path out = report_path.empty()
                           ? state_dir() / format_utc(now, "report-%Y%m%d-%H%M%S.md")
                           : fs::path(report_path);
        std::FILE* f = std::fopen(out.c_str(), "w");
        if (f == nullptr) {
            std::fprintf(
                stderr, "mp-tour: %s %s\n",
                Say{o.lang}("cannot write the report to", "no se puede escribir el informe en")
                    .c_str(),
                out.c_str());
            return 1;
        }
        PracticeState practised = load_practice_state();
        std::string md =
            session_report(progress, o.lang, now, practised.passed, exercises().size());
        std::fwrite(md.data(), 1, md.size(), f);
        std::fclose(f);
        fs::remove(progress_file);
        std::printf("%s\n", fill(ph.report_written(o.lang), {out.string()}).c_str());
    }
    return 0;
}
