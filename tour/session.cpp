#include "session.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace tour {

namespace fs = std::filesystem;

bool Progress::is_done(std::string_view id) const {
    return std::find(done.begin(), done.end(), id) != done.end();
}

fs::path state_dir() {
    fs::path base;
    if (const char* x = std::getenv("XDG_STATE_HOME"); x != nullptr && x[0] == '/') {
        base = x;
    } else if (const char* h = std::getenv("HOME"); h != nullptr && h[0] != '\0') {
        base = fs::path(h) / ".local" / "state";
    } else {
        throw std::runtime_error(
            "neither XDG_STATE_HOME nor HOME is set: nowhere to save progress");
    }
    fs::path dir = base / "mp-tour";
    fs::create_directories(dir);
    return dir;
}

// The file is line-based text, one record per line:
//   mp-tour-progress 1
//   started <unix time>      resumes <n>
//   done <lesson>            answer <lesson> <question> <chosen> <0|1> [retry]
//   ran <program> <exit code> <built 0|1>
std::optional<Progress> load_progress(const fs::path& file) {
    std::ifstream in(file);
    if (!in) return std::nullopt;
    std::string line;
    if (!std::getline(in, line) || line != "mp-tour-progress 1") {
        std::fprintf(stderr, "mp-tour: %s is not a progress file of this version; starting over\n",
                     file.c_str());
        return std::nullopt;
    }
    Progress p;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string kind;
        f >> kind;
        bool ok = true;
        if (kind == "started") {
            long long t = 0;
            ok = static_cast<bool>(f >> t);
            p.started = static_cast<std::time_t>(t);
        } else if (kind == "lang") {
            ok = static_cast<bool>(f >> p.lang);
        } else if (kind == "resumes") {
            ok = static_cast<bool>(f >> p.resumes);
        } else if (kind == "done") {
            std::string id;
            ok = static_cast<bool>(f >> id);
            p.done.push_back(id);
        } else if (kind == "answer") {
            Answer a;
            int c = 0;
            ok = static_cast<bool>(f >> a.lesson >> a.question >> a.chosen >> c);
            a.correct = c != 0;
            std::string retry;
            a.retry = (f >> retry) && retry == "retry";
            p.answers.push_back(a);
        } else if (kind == "ran") {
            ProgramRun r;
            int built = 1;
            ok = static_cast<bool>(f >> r.name >> r.exit_code >> built);
            r.built = built != 0;
            p.runs.push_back(r);
        } else if (!kind.empty()) {
            ok = false;
        }
        if (!ok) {
            std::fprintf(stderr, "mp-tour: %s: cannot read the line '%s'; starting over\n",
                         file.c_str(), line.c_str());
            return std::nullopt;
        }
    }
    return p;
}

void save_progress(const fs::path& file, const Progress& p) {
    fs::path tmp = file;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << "mp-tour-progress 1\n"
            << "started " << static_cast<long long>(p.started) << "\n"
            << "resumes " << p.resumes << "\n";
        if (!p.lang.empty()) out << "lang " << p.lang << "\n";
        for (const auto& d : p.done) out << "done " << d << "\n";
        for (const auto& a : p.answers) {
            out << "answer " << a.lesson << " " << a.question << " " << a.chosen << " "
                << (a.correct ? 1 : 0) << (a.retry ? " retry" : "") << "\n";
        }
        for (const auto& r : p.runs)
            out << "ran " << r.name << " " << r.exit_code << " " << (r.built ? 1 : 0) << "\n";
        if (!out.flush())
            throw std::runtime_error("cannot write the progress file " + tmp.string());
    }
    fs::rename(tmp, file);
}

std::string format_utc(std::time_t t, const char* format) {
    char buf[128];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}

// ---- the report ----------------------------------------------------------------------

namespace {

std::string when(std::time_t t) {
    return format_utc(t, "%Y-%m-%d %H:%M UTC");
}

const Lesson* find_lesson(std::string_view id) {
    for (const auto& l : lessons()) {
        if (l.id == id) return &l;
    }
    return nullptr;
}

char letter(int i) {
    return static_cast<char>('a' + i);
}

/// What to revisit after a wrong answer in a lesson, and a short practice that shows it.
Text revisit(std::string_view id) {
    if (id == "a")
        return {"lesson a) and exercise k): what processes give that threads do not",
                "la lección a) y el ejercicio k): lo que dan los procesos y no los hilos"};
    if (id == "b")
        return {"lesson b); practice: make 02_lifecycle print is_alive() before and after join()",
                "la lección b); práctica: hacer que 02_lifecycle imprima is_alive() antes y "
                "después de join()"};
    if (id == "c")
        return {"lesson c) (Pipe vs Queue), then debugging exercises 22 and 23",
                "la lección c) (Pipe vs Queue), luego los ejercicios de depuración 22 y 23"};
    if (id == "d")
        return {
            "lesson d), then debugging exercises 20 (race) and 21 (deadlock)",
            "la lección d), luego los ejercicios de depuración 20 (carrera) y 21 (interbloqueo)"};
    if (id == "e")
        return {"lesson e); practice: one program that uses map, apply, map_async and apply_async",
                "la lección e); práctica: un programa que use map, apply, map_async y apply_async"};
    if (id == "f")
        return {"lesson f); practice: hand a Value to a Pool through an initializer",
                "la lección f); práctica: entregar un Value a un Pool con un initializer"};
    if (id == "g")
        return {"exercise g); practice: predict 08_mp_worker's speedup before running it",
                "el ejercicio g); práctica: predecir la aceleración de 08_mp_worker antes de "
                "ejecutarlo"};
    if (id == "h")
        return {"the mini-exercises h); practice: solve one again without looking",
                "los mini-ejercicios h); práctica: resolver uno otra vez sin mirar"};
    if (id == "i")
        return {"exercise i); practice: add a second Queue for errors",
                "el ejercicio i); práctica: agregar una segunda Queue para errores"};
    if (id == "j")
        return {"the debugging pairs j); practice: find each bug before reading the fix",
                "los pares de depuración j); práctica: encontrar cada error antes de leer la "
                "corrección"};
    return {"lesson k); practice: change the job sizes and predict the times before running",
            "la lección k); práctica: cambiar el tamaño de los trabajos y predecir los tiempos "
            "antes de ejecutar"};
}

}  // namespace

std::string session_report(const Progress& p, Lang lang, std::time_t finished,
                           const std::vector<std::string>& exercises_passed,
                           std::size_t exercises_total) {
    auto T = [lang](std::string_view en, std::string_view es) {
        return std::string(lang == Lang::es ? es : en);
    };
    std::ostringstream md;

    int right = 0;
    std::map<std::string, std::pair<int, int>> per_lesson;  // id → (right, asked)
    int asked = 0;
    for (const auto& a : p.answers) {
        if (a.retry) continue;  // first answers count; a retry is reported beside its question
        ++asked;
        right += a.correct ? 1 : 0;
        auto& [r, n] = per_lesson[a.lesson];
        r += a.correct ? 1 : 0;
        ++n;
    }
    int pct = asked > 0 ? (200 * right + asked) / (2 * asked) : 0;  // rounded: 18/27 → 67

    md << T("# Session report: multiprocessing in C++ with mp (mp-tour)\n\n",
            "# Análisis de la sesión: multiprocessing en C++ con mp (mp-tour)\n\n");
    md << T("Session: ", "Sesión: ") << when(p.started) << " → " << when(finished) << " · "
       << T("checkpoint answers: ", "respuestas en los altos: ") << right << "/" << asked << " ("
       << pct << " %)\n\n";

    // 1. Structure
    md << T("## 1. Structure followed\n\n", "## 1. Estructura de la sesión\n\n");
    md << T(
        "The session followed the guides' order, one block at a time, each closed by a checkpoint "
        "(\"alto para puesta en común\") with review questions:\n\n",
        "La sesión siguió el orden de las guías, bloque por bloque, cada uno cerrado con un \"alto "
        "para "
        "puesta en común\" con preguntas de repaso:\n\n");
    for (const auto& l : lessons()) {
        bool done = p.is_done(l.id);
        md << "- [" << (done ? "x" : " ") << "] " << l.title(lang);
        if (auto it = per_lesson.find(std::string(l.id)); it != per_lesson.end()) {
            md << " — " << it->second.first << "/" << it->second.second
               << T(" correct", " correctas");
        } else if (!done) {
            md << T(" — not reached", " — no alcanzada");
        }
        md << "\n";
    }
    if (p.resumes > 0) {
        md << "\n"
           << T("The student stopped and resumed from saved progress ",
                "El estudiante se detuvo y retomó desde el progreso guardado ")
           << p.resumes
           << (p.resumes == 1 ? T(" time.\n", " vez.\n") : T(" times.\n", " veces.\n"));
    }

    // 2. Clarity
    md << T("\n## 2. Clarity and depth\n\n", "\n## 2. Claridad y profundidad\n\n");
    std::string clear, mixed;
    for (const auto& l : lessons()) {
        auto it = per_lesson.find(std::string(l.id));
        if (it == per_lesson.end()) continue;
        std::string name = "**" + std::string(l.id) + ")**";
        auto& list = it->second.first == it->second.second ? clear : mixed;
        list += (list.empty() ? "" : ", ") + name;
    }
    md << T("Blocks consolidated at the first answer: ",
            "Bloques consolidados a la primera respuesta: ")
       << (clear.empty() ? T("none", "ninguno") : clear) << ".\n\n";
    md << T("Blocks where some answers needed correction: ",
            "Bloques donde alguna respuesta necesitó corrección: ")
       << (mixed.empty() ? T("none", "ninguno") : mixed) << ".\n";

    // 3. Clarifications
    md << T("\n## 3. Where the student needed clarification\n\n",
            "\n## 3. Dónde el estudiante necesitó aclaraciones\n\n");
    bool any_wrong = false;
    for (const auto& a : p.answers) {
        if (a.correct || a.retry) continue;
        const Lesson* l = find_lesson(a.lesson);
        if (l == nullptr || a.question < 0 || a.question >= static_cast<int>(l->questions.size()))
            continue;
        const Question& q = l->questions[static_cast<std::size_t>(a.question)];
        any_wrong = true;
        md << "- **" << l->id << ")** " << q.text(lang) << "\n"
           << "  - " << T("Answered", "Respondió") << " " << letter(a.chosen) << ") "
           << (a.chosen >= 0 && a.chosen < static_cast<int>(q.options.size())
                   ? std::string(q.options[static_cast<std::size_t>(a.chosen)](lang))
                   : std::string("?"))
           << "\n"
           << "  - " << T("Correct", "Correcta") << ": " << letter(q.correct) << ") "
           << q.options[static_cast<std::size_t>(q.correct)](lang) << "\n"
           << "  - " << T("Clarification given", "Aclaración dada") << ": " << q.explanation(lang)
           << "\n";
        for (const auto& again : p.answers) {
            if (again.retry && again.lesson == a.lesson && again.question == a.question) {
                md << "  - "
                   << (again.correct ? T("Asked again at the end of the block: right.",
                                         "Preguntada otra vez al final del bloque: bien.")
                                     : T("Asked again at the end of the block: still wrong.",
                                         "Preguntada otra vez al final del bloque: otra vez mal."))
                   << "\n";
            }
        }
    }
    if (!any_wrong) {
        md << T("No wrong answers: every checkpoint was passed at the first attempt.\n",
                "Ninguna respuesta incorrecta: cada alto se superó al primer intento.\n");
    }

    // 4. Application
    md << T("\n## 4. Application and reflection\n\n", "\n## 4. Aplicación y reflexión\n\n");
    std::vector<std::string> ran, missing;
    for (const auto& r : p.runs) {
        auto& list = r.built ? ran : missing;
        std::string entry = "`" + r.name + "`";
        if (r.built)
            entry +=
                " (" + T("exit code ", "código de salida ") + std::to_string(r.exit_code) + ")";
        if (std::find(list.begin(), list.end(), entry) == list.end()) list.push_back(entry);
    }
    if (ran.empty()) {
        md << T(
            "No example program was run in this session (--no-run): the concepts were read, not "
            "applied.\n",
            "En esta sesión no se ejecutó ningún programa de ejemplo (--no-run): los conceptos se "
            "leyeron, no se aplicaron.\n");
    } else {
        md << T(
            "Each concept was applied in a program run live during the session, as real processes "
            "with their own PIDs: ",
            "Cada concepto se aplicó en un programa ejecutado en vivo durante la sesión, como "
            "procesos reales con su propio PID: ");
        for (std::size_t i = 0; i < ran.size(); ++i) md << (i ? ", " : "") << ran[i];
        md << ".\n";
    }
    if (!missing.empty()) {
        md << "\n"
           << T("Not built at the time, so not run: ",
                "No compilados en ese momento, por lo que no se ejecutaron: ");
        for (std::size_t i = 0; i < missing.size(); ++i) md << (i ? ", " : "") << missing[i];
        md << ".\n";
    }
    std::string exercises;
    for (const auto& l : lessons()) {
        if (l.id >= "g" && p.is_done(l.id))
            exercises += (exercises.empty() ? "" : "; ") + std::string(l.title(lang));
    }
    md << "\n"
       << T("Exercises completed (after lessons a) to f), in the guides' order): ",
            "Ejercicios completados (después de las lecciones a) a f), en el orden de las guías): ")
       << (exercises.empty() ? T("none yet", "ninguno todavía") : exercises) << ".\n";
    md << "\n"
       << T("Read and watched: ", "Leído y observado: ") << p.done.size() << "/" << lessons().size()
       << T(" lessons. Done by the student (exercises passed in mp-tour practice): ",
            " lecciones. Hecho por el estudiante (ejercicios superados en mp-tour practice): ")
       << exercises_passed.size() << "/" << exercises_total;
    if (!exercises_passed.empty()) {
        md << " (";
        for (std::size_t i = 0; i < exercises_passed.size(); ++i)
            md << (i ? ", " : "") << exercises_passed[i];
        md << ")";
    }
    md << ".\n";

    // 5. Suggestions
    md << T("\n## 5. Suggestions for next time\n\n",
            "\n## 5. Observaciones y sugerencias para la próxima vez\n\n");
    bool any_suggestion = false;
    for (const auto& l : lessons()) {
        auto it = per_lesson.find(std::string(l.id));
        if (it == per_lesson.end() || it->second.first == it->second.second) continue;
        md << "- " << T("Revisit ", "Repasar ") << revisit(l.id)(lang) << ".\n";
        any_suggestion = true;
    }
    std::string not_reached;
    for (const auto& l : lessons()) {
        if (!p.is_done(l.id))
            not_reached += (not_reached.empty() ? "" : ", ") + std::string(l.id) + ")";
    }
    if (!not_reached.empty()) {
        md << "- " << T("Finish the blocks not reached: ", "Completar los bloques no alcanzados: ")
           << not_reached
           << T(" (mp-tour --interactive --lesson ID).\n",
                " (mp-tour --interactive --lesson ID).\n");
        any_suggestion = true;
    }
    if (!any_suggestion) {
        md << T(
            "- All blocks were consolidated. Next step: short autonomous exercises at the end of "
            "each topic — "
            "change each example (more workers, bigger inputs, a second Queue) and predict the "
            "output before "
            "running it.\n",
            "- Todos los bloques quedaron consolidados. Próximo paso: ejercicios cortos de "
            "práctica autónoma al final de "
            "cada tema — modificar cada ejemplo (más workers, entradas más grandes, una segunda "
            "Queue) y predecir la "
            "salida antes de ejecutarlo.\n");
    }
    md << T(
        "- Compare concurrency models on a task of your own (CPU-bound or I/O-bound?) before "
        "choosing one.\n",
        "- Comparar modelos de concurrencia sobre una tarea propia (¿CPU-bound o I/O-bound?) antes "
        "de elegir uno.\n");

    md << "\n---\n\n"
       << T("**Summary:** ", "**Resumen:** ") << p.done.size() << "/" << lessons().size()
       << T(" blocks completed; ", " bloques completados; ") << right << "/" << asked
       << T(" checkpoint answers correct", " respuestas correctas en los altos") << " (" << pct
       << " %). ";
    if (asked == 0) {
        md << T("No checkpoint was answered yet.\n", "Todavía no se respondió ningún alto.\n");
    } else if (pct >= 80) {
        md << T("Solid, linear progress: the concepts were consolidated block by block.\n",
                "Progreso sólido y lineal: los conceptos se consolidaron bloque por bloque.\n");
    } else if (pct >= 50) {
        md << T(
            "Good progress; the blocks listed in section 3 deserve a second look before moving "
            "on.\n",
            "Buen progreso; los bloques de la sección 3 merecen un segundo repaso antes de "
            "avanzar.\n");
    } else {
        md << T(
            "Worth taking the tour again, slowly, one block per session, running each example by "
            "hand.\n",
            "Conviene repetir el recorrido con calma, un bloque por sesión, ejecutando cada "
            "ejemplo a mano.\n");
    }
    return md.str();
}

}  // namespace tour
