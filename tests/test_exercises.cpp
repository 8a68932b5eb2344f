// mp-tour practice: for every lesson, each exercise's checker rejects the file the
// student starts from (for the debugging exercises, the planted bug itself) and
// accepts the solution in solutions/; a single check records progress and shows
// hints one at a time; a new exercise file is picked up with no CMake change; a
// moved build folder is detected with the command that fixes it.
//
// The exercises are built by mp-tour itself (one precompiled <mp/mp.hpp> shared by
// all, -O0, two at a time) against this build's mp library; a file built once is not
// built again (practice/cache), so the checks of a1 below compile it once.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
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
const fs::path kSource = MP_SOURCE_DIR;

/// A private state directory, so that no test touches the student's progress.
struct StateDir {
    fs::path dir =
        fs::temp_directory_path() / ("mp-tour-test-" + std::to_string(getpid()) + "-" +
                                     std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    StateDir() { fs::create_directories(dir); }
    ~StateDir() { fs::remove_all(dir); }
    [[nodiscard]] std::string env() const { return "XDG_STATE_HOME=" + dir.string(); }
};

ProgramResult tour(const std::vector<std::string>& args, const StateDir& state,
                   std::chrono::seconds timeout = 110s) {
    std::vector<std::string> all{"--no-color"};
    all.insert(all.end(), args.begin(), args.end());
    ProgramResult r = run_program(kTour, all, "", timeout, {state.env()});
    EXPECT_NE(r.exit_code, 127) << "mp-tour is not built";
    EXPECT_NE(r.exit_code, -9) << "mp-tour did not finish; output:\n" << r.out << r.err;
    return r;
}

/// The ids of the exercise files of a lesson in a tree.
std::vector<std::string> ids_in(const fs::path& tree, const std::string& lesson) {
    std::vector<std::string> ids;
    for (const auto& f : fs::directory_iterator(tree / lesson)) {
        std::string stem = f.path().stem().string();
        ids.push_back(stem.substr(0, stem.find('_')));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

/// "id PASS" / "id FAIL: why" lines of `practice --all`, by id.
std::map<std::string, std::string> verdicts(const std::string& out) {
    std::map<std::string, std::string> v;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        auto sp = line.find(' ');
        if (sp == std::string::npos) continue;
        std::string rest = line.substr(sp + 1);
        if (rest.rfind("PASS", 0) == 0 || rest.rfind("FAIL", 0) == 0) v[line.substr(0, sp)] = rest;
    }
    return v;
}

/// Every exercise id of exercises/, sorted ("a1", "a2", … "k1").
std::vector<std::string> all_ids() {
    std::vector<std::string> ids;
    for (const auto& lesson : fs::directory_iterator(kSource / "exercises")) {
        if (!lesson.is_directory()) continue;
        auto in = ids_in(kSource / "exercises", lesson.path().filename().string());
        ids.insert(ids.end(), in.begin(), in.end());
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

/// One test per exercise, so that ctest spreads them over the cores and none is long.
class Exercise : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(Exercises, EveryLessonHasAnExerciseAndEveryExerciseOneSolution) {
    for (std::string lesson : {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}) {
        auto ids = ids_in(kSource / "exercises", lesson);
        EXPECT_FALSE(ids.empty()) << "lesson " << lesson << ") has no exercise";
        EXPECT_EQ(ids, ids_in(kSource / "solutions", lesson)) << "lesson " << lesson << ")";
    }
    EXPECT_GE(all_ids().size(), 20u);
}

TEST_P(Exercise, TheCheckerRejectsTheStartingFileAndAcceptsTheSolution) {
    const std::string id = GetParam();
    StateDir state;
    // The two trees at once, one build each: CI's two cores stay busy.
    auto started = std::async(std::launch::async, [&] {
        return tour({"practice", "--all", id, "--jobs", "1"}, state);
    });
    ProgramResult solved = tour(
        {"practice", "--all", id, "--jobs", "1", "--dir", (kSource / "solutions").string()}, state);
    ProgramResult start = started.get();
    auto rejected = verdicts(start.out), accepted = verdicts(solved.out);
    EXPECT_NE(start.exit_code, 0);
    EXPECT_EQ(solved.exit_code, 0) << solved.out << solved.err;
    ASSERT_TRUE(rejected.count(id)) << id << " was not checked:\n" << start.out;
    // Rejected for what it does (a wrong result, a hang, a crash), not for not compiling.
    EXPECT_TRUE(rejected[id].rfind("FAIL", 0) == 0) << id << ": " << rejected[id];
    EXPECT_FALSE(contains(rejected[id], "does not compile")) << id << ":\n" << start.out;
    ASSERT_TRUE(accepted.count(id)) << id << " solution was not checked:\n" << solved.out;
    EXPECT_EQ(accepted[id], "PASS") << id << ":\n" << solved.out;
    EXPECT_EQ(rejected.size(), 1u) << "only " << id << " was checked:\n" << start.out;
}

INSTANTIATE_TEST_SUITE_P(All, Exercise, ::testing::ValuesIn(all_ids()),
                         [](const auto& param_info) { return param_info.param; });

TEST(Practice, ListCheckRecordHintsAndSpanish) {
    StateDir state;
    ProgramResult list = tour({"practice"}, state);
    EXPECT_EQ(list.exit_code, 0) << list.err;
    EXPECT_TRUE(contains(list.out, "a1   todo")) << list.out;
    EXPECT_TRUE(contains(list.out, "Passed: 0/")) << list.out;
    EXPECT_TRUE(contains(list.out, "Next: mp-tour practice a1")) << list.out;

    // A check of another file (here the solution) passes but records nothing…
    fs::path solution = kSource / "solutions/a/a1_two_pids.cpp";
    ProgramResult ok = tour({"practice", "a1", "--file", solution.string()}, state);
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_TRUE(contains(ok.out, "Passed")) << ok.out;
    // … while the student's own, untouched file fails, says why and offers a hint.
    ProgramResult bad = tour({"practice", "a1", "--lang", "es"}, state);
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_TRUE(contains(bad.out, "Todavía no:")) << bad.out;
    EXPECT_TRUE(contains(bad.out, "mp-tour practice a1 --hint --lang es")) << bad.out;

    // Hints come one more each time, and stop at the last.
    ProgramResult h1 = tour({"practice", "a1", "--hint"}, state);
    EXPECT_TRUE(contains(h1.out, "Hint 1/3")) << h1.out;
    EXPECT_FALSE(contains(h1.out, "Hint 2/3"));
    ProgramResult h2 = tour({"practice", "a1", "--hint", "--lang", "es"}, state);
    EXPECT_TRUE(contains(h2.out, "Pista 2/3")) << h2.out;
    tour({"practice", "a1", "--hint"}, state);
    ProgramResult h4 = tour({"practice", "a1", "--hint"}, state);
    EXPECT_TRUE(contains(h4.out, "Hint 3/3")) << h4.out;

    ProgramResult unknown = tour({"practice", "zz"}, state);
    EXPECT_EQ(unknown.exit_code, 2);
    EXPECT_TRUE(contains(unknown.err, "no exercise 'zz'")) << unknown.err;
}

TEST(Practice, APassedExerciseIsRecordedWithTheTourProgress) {
    StateDir state;
    // The student's tree: a copy where a1 is solved.
    fs::path tree = state.dir / "tree";
    fs::create_directories(tree / "a");
    fs::copy_file(kSource / "solutions/a/a1_two_pids.cpp", tree / "a/a1_two_pids.cpp");
    ProgramResult r = tour({"practice", "a1", "--dir", tree.string()}, state);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::ifstream saved(state.dir / "mp-tour" / "practice");
    std::string all((std::istreambuf_iterator<char>(saved)), {});
    EXPECT_TRUE(contains(all, "passed a1")) << all;
    ProgramResult list = tour({"practice", "--dir", tree.string()}, state);
    EXPECT_TRUE(contains(list.out, "a1   passed")) << list.out;
    EXPECT_TRUE(contains(list.out, "Passed: 1/1")) << list.out;
}

TEST(Practice, ANewExerciseFileIsPickedUpWithoutCMake) {
    StateDir state;
    fs::path tree = state.dir / "tree";
    fs::create_directories(tree / "z");
    {
        std::ofstream f(tree / "z/z9_mine.cpp");
        f << "#include <mp/mp.hpp>\nvoid w() {}\nint main() { mp::Process p(w); p.start(); "
             "p.join(); }\n";
    }
    {
        std::ofstream f(tree / "z/z8_broken.cpp");
        f << "int main() { return 3; }\n";
    }
    ProgramResult r = tour({"practice", "--all", "--dir", tree.string()}, state);
    auto v = verdicts(r.out);
    EXPECT_EQ(v["z9"], "PASS") << r.out;
    EXPECT_TRUE(contains(v["z8"], "exit code 3")) << r.out;
}

TEST(Practice, AMovedBuildFolderIsDetectedWithTheCommandThatFixesIt) {
    StateDir state;
    fs::path fake = state.dir / "copied-build" / "tour";
    fs::create_directories(fake);
    fs::copy_file(kTour, fake / "mp-tour");
    ProgramResult r =
        run_program((fake / "mp-tour").string(), {"practice"}, "", 30s, {state.env()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, "copied or moved")) << r.err;
    EXPECT_TRUE(contains(r.err, "cmake --fresh -S " + kSource.string() + " -B " +
                                    (state.dir / "copied-build").string()))
        << r.err;
}

TEST(Practice, RunRebuildsAndRunsOneExample) {
    StateDir state;
    ProgramResult r = tour({"run", "01"}, state, 300s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "--target 01_process")) << r.out;
    EXPECT_TRUE(contains(r.out, "PID")) << r.out;
    ProgramResult none = tour({"run", "99"}, state);
    EXPECT_EQ(none.exit_code, 2);
    EXPECT_TRUE(contains(none.err, "no example examples/99")) << none.err;
}
