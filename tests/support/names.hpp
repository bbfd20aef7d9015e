// Test helper: a named tensor's path as owned strings, for comparisons with expected paths
// (the library hands paths out as views of the checkpoint's texts).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace test_support {

inline std::vector<std::string> path_of(std::span<const std::string_view> path) {
    return {path.begin(), path.end()};
}

}  // namespace test_support
