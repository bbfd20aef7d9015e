// tools/ptio/globals_report.hpp — what ls, show, verify and scan say about the globals a
// file's pickles name: a warning line on stderr for each one outside the allowlist, and the
// `globals` list of their --json output. Not thread-safe (writes stderr).
#pragma once

#include <span>

#include "json_output.hpp"
#include "ptio/checkpoint.hpp"

namespace ptio_cli {

/// One line on stderr per global whose verdict is not "allowed":
/// "ptio: warning: FILE: RECORD: at offset N: MODULE.NAME is not in torch's weights_only
/// allowlist (unknown|unsafe): torch.load would import and call it".
void warn_globals(std::span<const ptio::global_ref> globals);

/// [{"module", "name", "record", "offset", "verdict", "weights_only"}], plus "file" when
/// `with_file` (a sharded checkpoint's or scan's list).
[[nodiscard]] json globals_json(std::span<const ptio::global_ref> globals, bool with_file = false);

/// True when every global is allowed.
[[nodiscard]] bool all_allowed(std::span<const ptio::global_ref> globals) noexcept;

}  // namespace ptio_cli
