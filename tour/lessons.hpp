// The tour's content: lessons a) to k) in the guides' order, each with its
// explanation, the Python code of the guides beside the mp code, the example
// programs to run live, prediction questions before a run, and the checkpoint
// ("alto para puesta en común").
//
// The lessons are data: tour/lessons/<id>.<lang>.md, one file per lesson and
// language (the format is described in tour/lessons/README.md), built into
// mp-tour and parsed at start. The C++ a lesson shows is not written in the
// lesson: it names regions of the real example programs (`// tour:begin name`
// … `// tour:end name` in examples/NN_*.cpp), so the code shown is the code run.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tour {

enum class Lang { en, es };

/// A text in both languages.
struct Text {
    std::string en;
    std::string es;
    [[nodiscard]] std::string_view operator()(Lang l) const { return l == Lang::es ? es : en; }
};

/// A multiple-choice question with the explanation shown after the answer.
struct Question {
    Text text;
    std::vector<Text> options;
    int correct = 0;  ///< index into options
    Text explanation;
    int part = -1;  ///< -1: a checkpoint question; else a prediction asked before that part's run
};

/// One code comparison: the Python of the guides beside the mp program (regions of
/// the example files), and the example programs (built in build/examples) run live.
struct Part {
    Text title;
    Text python_note;  ///< where the Python comes from (empty: the guide, verbatim)
    Text python;
    Text mp;  ///< the regions named in `code`, as shown (comments kept in English only)
    std::vector<std::string> programs;
    std::vector<std::string> code;  ///< "01_process#main": example file and region
    Text after;                     ///< shown after the live run (may be empty)
};

struct Lesson {
    std::string id;     ///< "a" … "k": what --lesson takes
    std::string alias;  ///< a word --lesson also takes ("pipe", "pool", …)
    Text title;
    Text intro;  ///< paragraphs separated by blank lines; "* " starts a bullet
    std::vector<Part> parts;
    std::vector<Question> questions;  ///< predictions (part >= 0) and checkpoint (part == -1)
};

/// Files by path relative to the source tree: "tour/lessons/a.es.md", "examples/01_process.cpp".
using SourceFiles = std::map<std::string, std::string, std::less<>>;

/// Parses and checks the lesson files among `files`: every language has the same lessons,
/// parts, code regions, programs and questions (with the same right answers), and every
/// region named exists in its example file. Throws std::runtime_error naming the file, the
/// line and what to change.
std::vector<Lesson> load_lessons(const SourceFiles& files);

/// The lessons built into mp-tour (parsed once).
const std::vector<Lesson>& lessons();

/// The files built into mp-tour, as SourceFiles.
SourceFiles builtin_files();

/// The lines between `// tour:begin name` and `// tour:end name` of `source`, dedented;
/// with `keep_comments` false, `//` comments are taken out (they are in English).
/// Throws std::runtime_error if the region is missing.
std::string region(std::string_view source, std::string_view name, bool keep_comments);

/// The tour's own fixed phrases (headings, prompts, report sections).
struct Phrases {
    Text welcome, welcome_body, python_heading, mp_heading, live_run, not_built, not_built_hint,
        exit_code, killed_by, timed_out, checkpoint, answer_prompt, answer_invalid, correct,
        not_quite, the_answer_is, saved_and_quit, resume, finished, report_written, end_body,
        programs_in_english, lesson_word, list_heading, total_time, only_done, predict, again,
        pause;
};
const Phrases& phrases();

/// Who owns each example program (for the "not built yet" notice).
std::string_view owner_of(std::string_view program);

}  // namespace tour
