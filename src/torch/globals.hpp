// globals — what a pickle GLOBAL names, decided by a fixed table and never by importing.
//
// classify() applies Python's compat names (__builtin__ → builtins, torch.tensor →
// torch._tensor), marks the callables that exist to run code (os.system, eval, cProfile.run,
// a nested torch.load, …) unsafe, and tags the globals the torch layer understands.
// weights_only_ok says whether torch.load(weights_only=True) accepts a global; what ptio
// writes by default is decided by writable(), an allowlist, never by the unsafe list.
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
    bool inert = false;   // not weights_only, but ptio's own container classes that run no code
    bool unsafe = false;  // known to run code, load pickles or touch the system

    /// What ptio writes without being told to: torch's weights_only allowlist plus the
    /// inert container classes.
    [[nodiscard]] bool writable() const noexcept { return !unsafe && (weights_only_ok || inert); }
};

[[nodiscard]] global_info classify(std::string_view module, std::string_view name);

/// Whether `getattr(target, attr)` reaches what the table refuses, where `target` is the
/// dotted path of a global ("torch.serialization") or of a chain of getattrs on one: the
/// path plus the attribute classifies unsafe (getattr(torch.serialization, "load")), the
/// attribute is a dunder (`__globals__`, `__subclasses__`, `__builtins__`: the ways out of
/// any allowlist), or it names a refused module a module re-exports
/// (`torch.serialization.pickle`, `….os`).
[[nodiscard]] bool unsafe_getattr(std::string_view target, std::string_view attr);

}  // namespace ptio::detail::torch
