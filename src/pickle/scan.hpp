// pickle/scan — the globals a pickle names, found from its opcodes alone: nothing is built,
// nothing is resolved, so a pickle the unpickler refuses (an unsafe global, a bad tensor) is
// still listed, as picklescan and modelscan do.
//
// GLOBAL and INST carry their names; STACK_GLOBAL takes two strings from the stack, so the
// scan models the stack as "a string (its text) or something else" through every opcode,
// memo included; a STACK_GLOBAL whose operands it cannot follow is reported with module "?".
// EXT1/2/4 name a global through copyreg's registry and are reported so too. SETITEM(S),
// APPEND(S) and BUILD on a global itself are reported as another entry for that global.
//
// Pure function over the bytes; thread-safe. Failure: ptio::error from the cursor (truncated)
// or unknown_opcode / limit_exceeded, naming the file, record and offset; `found` keeps what
// was found before the failure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/cursor.hpp"
#include "pickle/node.hpp"
#include "ptio/limits.hpp"

namespace ptio::detail::pickle {

struct scanned_global {
    std::string module, name;  // as written (no compat renames): "?" where unknown
    std::uint64_t at = 0;      // the naming opcode's absolute offset
    /// Not a naming but SETITEM(S), APPEND(S) or BUILD aimed at this global itself, a class
    /// rather than an instance (`at` is that opcode's): the CVE-2026-24747 shape.
    bool on_class = false;
};

/// Scans one pickle from the cursor's position up to and including its STOP, appending
/// each global named to `found` (each module, name and kind once, at its first offset);
/// leaves the cursor after the STOP. What the scan keeps (its stack's high-water mark, memo
/// entries, the globals found) is charged to `costs`, an arena used for its budget alone (see
/// pickle/budget), so a small file cannot make the scan cost more than it could make open.
void scan_globals(cursor& c, std::vector<scanned_global>& found, const limits& caps, arena& costs);

}  // namespace ptio::detail::pickle
