// globals — what a pickle GLOBAL names, decided by a fixed table and never by importing.
//
// classify() applies Python's compat names (__builtin__ → builtins, torch.tensor →
// torch._tensor), refuses callables that exist to run code (os.system, eval, subprocess, …)
// with errc::unsafe_global, and tags the globals the torch layer understands. in_weights_only
// tells whether torch.load(weights_only=True) would accept a global.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pickle/node.hpp"

namespace ptio::detail::torch {

/// global_info::aux of a storage class torch has no element type for.
inline constexpr std::uint16_t unknown_dtype = 0xFFFF;

struct global_info {
    std::string module;   // after compat mapping
    std::string name;
    known tag = known::none;
    std::uint16_t aux = 0;  // dtype of a dtype or storage-class global, or unknown_dtype
    bool weights_only_ok = false;
    bool unsafe = false;
};

[[nodiscard]] global_info classify(std::string_view module, std::string_view name);

}  // namespace ptio::detail::torch
