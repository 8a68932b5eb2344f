// The files built into mp-tour (tour/embed.cmake writes them): the lesson files
// tour/lessons/<id>.<lang>.md and the example sources examples/NN_*.cpp, by their
// path relative to the source tree.
#pragma once

#include <string_view>
#include <vector>

namespace tour {

struct EmbeddedFile {
    std::string_view path;  ///< "tour/lessons/a.es.md", "examples/01_process.cpp"
    std::string_view text;
};

const std::vector<EmbeddedFile>& embedded_files();

}  // namespace tour
