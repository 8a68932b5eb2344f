// The tour's practice: exercises the student edits (exercises/<lesson>/<id>_*.cpp),
// built with the project's compiler against the mp library of this build, run
// bounded in time in their own process group, and judged by their behaviour —
// the results they print, nothing lost, no hang, no process left behind, real
// parallelism where the exercise is about speed — never by their source text.
//
//   mp-tour practice              the list, with state (todo / passed)
//   mp-tour practice h1           build, run and check one; say what is wrong
//   mp-tour practice h1 --hint    one more hint each time
//   mp-tour practice --watch      re-check each time an exercise file is saved
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lessons.hpp"
#include "runner.hpp"

namespace tour {

/// A message in both languages, made at run time.
struct Say {
    Lang lang;
    [[nodiscard]] std::string operator()(std::string_view en, std::string_view es) const {
        return std::string(lang == Lang::es ? es : en);
    }
};

/// What a run of an exercise showed: how it ended and the `key=value` lines it printed.
struct Observed {
    RunResult run;
    std::filesystem::path workdir;  ///< where the setup wrote its input files

    /// Every value printed as `key=value` (one per line), in order.
    [[nodiscard]] std::vector<std::string> all(std::string_view key) const;
    /// The last value printed for `key`, if any.
    [[nodiscard]] std::optional<std::string> get(std::string_view key) const;
    /// The last value for `key` as an integer, if it is one.
    [[nodiscard]] std::optional<long long> number(std::string_view key) const;
};

/// A checker: nullopt when the behaviour is right, else what is wrong (in `say`'s language).
using Check = std::function<std::optional<std::string>(const Observed&, const Say&)>;

struct Exercise {
    std::string_view id;      ///< "a1": what `practice` takes
    std::string_view lesson;  ///< "a" … "k"
    Text title;
    Text task;                ///< what to do, shown with each check
    std::vector<Text> hints;  ///< from a nudge to nearly the answer
    std::chrono::milliseconds timeout = std::chrono::seconds(8);
    /// Writes the input files a run needs into `dir` and returns the program's arguments.
    std::function<std::vector<std::string>(const std::filesystem::path& dir)> setup;
    Check check;
};

/// Every exercise with a checker, in lesson order.
const std::vector<Exercise>& exercises();

/// What the `practice` subcommand was asked.
struct PracticeRequest {
    std::string id;  ///< empty: the list (with watch: every exercise; with all: a prefix, e.g. "j")
    bool hint = false;           ///< show the next hint instead of checking
    bool watch = false;          ///< re-check on save
    bool all = false;            ///< check every exercise found under `dir`
    std::filesystem::path file;  ///< check this file instead of the exercise's own
    std::filesystem::path dir;   ///< the exercises tree (default: the source tree's)
    int jobs = 1;                ///< with all: builds and runs at once
};

/// Runs `mp-tour practice …`; returns the exit status (0: asked for and passed, or a list).
int practice_main(const PracticeRequest& request, Lang lang, const Style& style);

/// `mp-tour run NN`: rebuilds one example with the build system, then runs it live.
int run_example_main(const std::string& number, Lang lang, const Style& style);

/// The build tree's own checks: nullopt when it is where it was configured, else the
/// message (with the one command that fixes it).
std::optional<std::string> build_tree_problem(Lang lang);

/// Exercises passed, saved in the state directory beside the tour's progress.
struct PracticeState {
    std::vector<std::string> passed;
    std::map<std::string, int> hints;  ///< hints shown, per exercise
};
PracticeState load_practice_state();
void save_practice_state(const PracticeState& s);

}  // namespace tour
