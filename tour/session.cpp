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
        throw std::runtime_error("neither XDG_STATE_HOME nor HOME is set: nowhere to save progress");
    }
    fs::path dir = base / "mp-tour";
    fs::create_directories(dir);
    return dir;
}

// The file is line-based text, one record per line:
//   mp-tour-progress 1
//   started <unix time>      resumes <n>
//   done <lesson>            answer <lesson> <question> <chosen> <0|1>
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
            std::fprintf(stderr, "mp-tour: %s: cannot read the line '%s'; starting over\n", file.c_str(),
                         line.c_str());
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
        for (const auto& d : p.done) out << "done " << d << "\n";
        for (const auto& a : p.answers) {
            out << "answer " << a.lesson << " " << a.question << " " << a.chosen << " " << (a.correct ? 1 : 0)
                << "\n";
        }
        for (const auto& r : p.runs) out << "ran " << r.name << " " << r.exit_code << " " << (r.built ? 1 : 0) << "\n";
        if (!out.flush()) throw std::runtime_error("cannot write the progress file " + tmp.string());
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

std::string when(std::time_t t) { return format_utc(t, "%Y-%m-%d %H:%M UTC"); }

const Lesson* find_lesson(std::string_view id) {
    for (const auto& l : lessons()) {
        if (l.id == id) return &l;
    }
    return nullptr;
}

char letter(int i) { return static_cast<char>('a' + i); }

/// What to revisit after a wrong answer in a lesson (a lesson, and an exercise that shows it).
Text revisit(std::string_view id) {
    if (id == "a") return {"lesson a) and exercise k) (what processes give that threads do not)",
                           "la lección a) y el ejercicio k) (lo que dan los procesos y no los hilos)"};
    if (id == "b") return {"lesson b): change 02_lifecycle to print is_alive() before and after join()",
                           "la lección b): modifica 02_lifecycle para imprimir is_alive() antes y después de join()"};
    if (id == "c") return {"lesson c) (Pipe vs Queue), then debugging exercises 22 and 23",
                           "la lección c) (Pipe vs Queue), luego los ejercicios de depuración 22 y 23"};
    if (id == "d") return {"lesson d), then debugging exercises 20 (race) and 21 (deadlock)",
                           "la lección d), luego los ejercicios de depuración 20 (carrera) y 21 (deadlock)"};
    if (id == "e") return {"lesson e): write one program that uses map, apply, map_async and apply_async",
                           "la lección e): escribe un programa que use map, apply, map_async y apply_async"};
    if (id == "f") return {"lesson f): hand a Value to a Pool through an initializer",
                           "la lección f): entregar un Value a un Pool con un initializer"};
    if (id == "g") return {"exercise g): predict 08_mp_worker's speedup before running it, then compare",
                           "el ejercicio g): predice la aceleración de 08_mp_worker antes de ejecutarlo y compara"};
    if (id == "h") return {"the mini-exercises h): solve one of them again without looking",
                           "los mini-ejercicios h): resuelve uno otra vez sin mirar"};
    if (id == "i") return {"exercise i): add a second Queue for errors", "el ejercicio i): agrega una segunda Queue para errores"};
    if (id == "j") return {"the debugging pairs j): find each bug before reading the fix",
                           "los pares de depuración j): encuentra cada error antes de leer la corrección"};
    return {"lesson k): change the job sizes and predict the times before running",
            "la lección k): cambia el tamaño de los trabajos y predice los tiempos antes de ejecutar"};
}

}  // namespace

std::string session_report(const Progress& p, Lang lang, std::time_t finished) {
    auto T = [lang](std::string_view en, std::string_view es) { return std::string(lang == Lang::es ? es : en); };
    std::ostringstream md;

    int right = 0;
    std::map<std::string, std::pair<int, int>> per_lesson;  // id → (right, asked)
    for (const auto& a : p.answers) {
        right += a.correct ? 1 : 0;
        auto& [r, n] = per_lesson[a.lesson];
        r += a.correct ? 1 : 0;
        ++n;
    }
    int asked = static_cast<int>(p.answers.size());
    int pct = asked > 0 ? 100 * right / asked : 0;

    md << T("# Session report: multiprocessing in C++ with mp (mp-tour)\n\n",
            "# Análisis de la sesión: multiprocessing en C++ con mp (mp-tour)\n\n");
    md << T("Session: ", "Sesión: ") << when(p.started) << " → " << when(finished) << " · "
       << T("checkpoint answers: ", "respuestas en los altos: ") << right << "/" << asked << " (" << pct << " %)\n\n";

    // 1. Structure
    md << T("## 1. Structure followed\n\n", "## 1. Estructura de la sesión\n\n");
    md << T("The session followed the guides' order, one block at a time, each closed by a checkpoint "
            "(\"alto para puesta en común\") with review questions:\n\n",
            "La sesión siguió el orden de las guías, bloque por bloque, cada uno cerrado con un \"alto para "
            "puesta en común\" con preguntas de repaso:\n\n");
    for (const auto& l : lessons()) {
        bool done = p.is_done(l.id);
        md << "- [" << (done ? "x" : " ") << "] " << l.title(lang);
        if (auto it = per_lesson.find(std::string(l.id)); it != per_lesson.end()) {
            md << " — " << it->second.first << "/" << it->second.second << T(" correct", " correctas");
        } else if (!done) {
            md << T(" — not reached", " — no alcanzada");
        }
        md << "\n";
    }
    if (p.resumes > 0) {
        md << "\n"
           << T("The student stopped and resumed from saved progress ", "El estudiante se detuvo y retomó desde el progreso guardado ")
           << p.resumes << T(" time(s).\n", " vez/veces.\n");
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
    md << T("Blocks consolidated at the first answer: ", "Bloques consolidados a la primera respuesta: ")
       << (clear.empty() ? T("none", "ninguno") : clear) << ".\n\n";
    md << T("Blocks where some answers needed correction: ", "Bloques donde alguna respuesta necesitó corrección: ")
       << (mixed.empty() ? T("none", "ninguno") : mixed) << ".\n";

    // 3. Clarifications
    md << T("\n## 3. Where the student needed clarification\n\n", "\n## 3. Dónde el estudiante necesitó aclaraciones\n\n");
    bool any_wrong = false;
    for (const auto& a : p.answers) {
        if (a.correct) continue;
        const Lesson* l = find_lesson(a.lesson);
        if (l == nullptr || a.question < 0 || a.question >= static_cast<int>(l->checkpoint.size())) continue;
        const Question& q = l->checkpoint[static_cast<std::size_t>(a.question)];
        any_wrong = true;
        md << "- **" << l->id << ")** " << q.text(lang) << "\n"
           << "  - " << T("Answered", "Respondió") << " " << letter(a.chosen) << ") "
           << (a.chosen >= 0 && a.chosen < static_cast<int>(q.options.size())
                   ? std::string(q.options[static_cast<std::size_t>(a.chosen)](lang))
                   : std::string("?"))
           << "\n"
           << "  - " << T("Correct", "Correcta") << ": " << letter(q.correct) << ") "
           << q.options[static_cast<std::size_t>(q.correct)](lang) << "\n"
           << "  - " << T("Clarification given", "Aclaración dada") << ": " << q.explanation(lang) << "\n";
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
        if (r.built) entry += " (" + T("exit code ", "código de salida ") + std::to_string(r.exit_code) + ")";
        if (std::find(list.begin(), list.end(), entry) == list.end()) list.push_back(entry);
    }
    md << T("Each concept was applied in a program run live during the session, as real processes with their own PIDs: ",
            "Cada concepto se aplicó en un programa ejecutado en vivo durante la sesión, como procesos reales con su propio PID: ");
    for (std::size_t i = 0; i < ran.size(); ++i) md << (i ? ", " : "") << ran[i];
    md << (ran.empty() ? T("none", "ninguno") : "") << ".\n";
    if (!missing.empty()) {
        md << "\n" << T("Not built at the time, so not run: ", "No compilados en ese momento, por lo que no se ejecutaron: ");
        for (std::size_t i = 0; i < missing.size(); ++i) md << (i ? ", " : "") << missing[i];
        md << ".\n";
    }
    md << "\n"
       << T("The exercises followed the guides' progression: mp_worker from sequential to parallel, then a shared counter under "
            "get_lock(); the three mini-exercises (Queue, Pool of 4, producer-consumer on a text file); then the "
            "report's suggestions — Queue + Lock + Pool combined, planted bugs, and threads vs processes vs async.\n",
            "Los ejercicios siguieron la progresión de las guías: mp_worker de secuencial a paralelo, y luego un contador compartido con "
            "get_lock(); los tres mini-ejercicios (Queue, Pool de 4, productor-consumidor sobre un archivo de texto); y "
            "luego las sugerencias del informe: Queue + Lock + Pool combinados, errores intencionales, e hilos vs procesos vs async.\n");

    // 5. Suggestions
    md << T("\n## 5. Suggestions for next time\n\n", "\n## 5. Observaciones y sugerencias para la próxima vez\n\n");
    bool any_suggestion = false;
    for (const auto& l : lessons()) {
        auto it = per_lesson.find(std::string(l.id));
        if (it == per_lesson.end() || it->second.first == it->second.second) continue;
        md << "- " << T("Revisit ", "Repasar ") << revisit(l.id)(lang) << ".\n";
        any_suggestion = true;
    }
    std::string not_reached;
    for (const auto& l : lessons()) {
        if (!p.is_done(l.id)) not_reached += (not_reached.empty() ? "" : ", ") + std::string(l.id) + ")";
    }
    if (!not_reached.empty()) {
        md << "- " << T("Finish the blocks not reached: ", "Completar los bloques no alcanzados: ") << not_reached
           << T(" (mp-tour --interactive --lesson ID).\n", " (mp-tour --interactive --lesson ID).\n");
        any_suggestion = true;
    }
    if (!any_suggestion) {
        md << T("- All blocks were consolidated. Next step: short autonomous exercises at the end of each topic — "
                "change each example (more workers, bigger inputs, a second Queue) and predict the output before "
                "running it.\n",
                "- Todos los bloques quedaron consolidados. Próximo paso: ejercicios cortos de práctica autónoma al final de "
                "cada tema — modificar cada ejemplo (más workers, entradas más grandes, una segunda Queue) y predecir la "
                "salida antes de ejecutarlo.\n");
    }
    md << T("- Compare concurrency models on a task of your own (CPU-bound or I/O-bound?) before choosing one.\n",
            "- Comparar modelos de concurrencia sobre una tarea propia (¿CPU-bound o I/O-bound?) antes de elegir uno.\n");

    md << "\n---\n\n"
       << T("**Summary:** ", "**Resumen:** ") << p.done.size() << "/" << lessons().size()
       << T(" blocks completed; ", " bloques completados; ") << right << "/" << asked
       << T(" checkpoint answers correct", " respuestas correctas en los altos") << " (" << pct << " %).\n";
    return md.str();
}

}  // namespace tour
