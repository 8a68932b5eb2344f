// What an interactive session remembers: the lessons done, the answers given
// and the programs run. Saved in the XDG state directory after each
// checkpoint, so a student can stop and resume; at the end it becomes a
// session report in Markdown, in the shape of the guides' own reports.
#pragma once

#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lessons.hpp"

namespace tour {

struct Answer {
    std::string lesson;
    int question = 0;
    int chosen = 0;
    bool correct = false;
    bool retry = false;  ///< asked again at the end of its block, after a wrong first answer
};

struct ProgramRun {
    std::string name;
    int exit_code = 0;
    bool built = true;
};

struct Progress {
    std::time_t started = 0;
    int resumes = 0;
    std::vector<std::string> done;  ///< lesson ids whose checkpoint is complete
    std::vector<Answer> answers;
    std::vector<ProgramRun> runs;
    std::string lang;  ///< the language of the session ("en", "es"), kept for the resume

    [[nodiscard]] bool is_done(std::string_view id) const;
};

/// $XDG_STATE_HOME/mp-tour, else ~/.local/state/mp-tour (created if missing).
std::filesystem::path state_dir();

/// The saved progress, or nullopt if there is none. A damaged file is reported
/// on stderr and ignored (the session starts over).
std::optional<Progress> load_progress(const std::filesystem::path& file);

/// Writes the progress atomically (a temporary file, then rename).
void save_progress(const std::filesystem::path& file, const Progress& p);

/// `t` in UTC, formatted by strftime's `format`.
std::string format_utc(std::time_t t, const char* format);

/// The session report in Markdown. `exercises_passed`: ids passed in `mp-tour practice`
/// (what was done, beside what was read), out of `exercises_total`.
std::string session_report(const Progress& p, Lang lang, std::time_t finished,
                           const std::vector<std::string>& exercises_passed = {},
                           std::size_t exercises_total = 0);

}  // namespace tour
