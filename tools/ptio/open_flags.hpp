// tools/ptio/open_flags.hpp — the options every command that opens a file shares
// (--weights-only), declared once here and turned into ptio::open_options. Plain data; the
// CLI is single-threaded.
#pragma once

#include "ptio/limits.hpp"

namespace CLI {
class App;
}

namespace ptio_cli {

struct open_flags {
    bool weights_only = false;
};

/// Declares --weights-only on `app`.
void add_open_flags(CLI::App& app, open_flags& flags);

/// `base` with what the flags ask for.
[[nodiscard]] inline ptio::open_options open_options_of(const open_flags& flags,
                                                        ptio::open_options base = {}) {
    base.weights_only = base.weights_only || flags.weights_only;
    return base;
}

}  // namespace ptio_cli
