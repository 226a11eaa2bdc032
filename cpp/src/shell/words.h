// The words of a command line as Windows' console tools split them: at blanks, with "quoted
// text" one word without its quotes (a label or a description holding spaces).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bootmirror::shell {

std::vector<std::string> tokenize(std::string_view line);

}  // namespace bootmirror::shell
