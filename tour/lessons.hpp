// The tour's content: lessons a) to k) in the guides' order, each with its
// explanation, the Python code of the guides beside its mp form, the example
// programs to run live, and the checkpoint ("alto para puesta en común").
//
// Everything a student reads is here, in English and Spanish; the code that
// shows it is in render.hpp, runner.hpp and session.hpp.
#pragma once

#include <string_view>
#include <vector>

namespace tour {

enum class Lang { en, es };

/// A text in both languages.
struct Text {
    std::string_view en;
    std::string_view es;
    [[nodiscard]] std::string_view operator()(Lang l) const { return l == Lang::es ? es : en; }
};

/// A multiple-choice review question with the explanation shown after the answer.
struct Question {
    Text text;
    std::vector<Text> options;
    int correct;  ///< index into options
    Text explanation;
};

/// One code comparison: the Python of the guides beside the mp program, and
/// the example programs (built in build/examples) that the tour runs live.
struct Part {
    Text title;
    Text python_note;  ///< where the Python comes from (empty: the guide, verbatim)
    std::string_view python;
    std::string_view mp;
    std::vector<std::string_view> programs;
    Text after;  ///< shown after the live run (may be empty)
};

struct Lesson {
    std::string_view id;     ///< "a" … "k": what --lesson takes
    std::string_view alias;  ///< a word --lesson also takes ("pipe", "pool", …)
    Text title;
    Text intro;  ///< paragraphs separated by blank lines; "* " starts a bullet
    std::vector<Part> parts;
    std::vector<Question> checkpoint;
};

/// All lessons, in the order the guides teach them.
const std::vector<Lesson>& lessons();

/// The tour's own fixed phrases (headings, prompts, report sections).
struct Phrases {
    Text welcome, welcome_body, python_heading, mp_heading, live_run, not_built, not_built_hint,
        exit_code, killed_by, timed_out, checkpoint, answer_prompt, answer_invalid, correct,
        not_quite, the_answer_is, saved_and_quit, resume, finished, report_written, end_body,
        programs_in_english, lesson_word, list_heading, total_time, only_done;
};
const Phrases& phrases();

/// Who owns each example program (for the "not built yet" notice).
std::string_view owner_of(std::string_view program);

}  // namespace tour
