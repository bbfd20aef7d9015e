// pickle::machine — a restricted unpickler that builds a value tree and never calls anything.
//
// It runs every opcode of protocols 0 to 5 except the extension registry
// (EXT1/2/4) and out-of-band buffers, which raise unknown_opcode. Everything that would run
// code in Python — GLOBAL, REDUCE, NEWOBJ, INST, OBJ, BUILD, persistent ids — goes to a
// resolver, which decides what the value is (a tensor, an OrderedDict, an opaque object).
// Caps on stack, memo and lengths are checked before anything is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "io/cursor.hpp"
#include "pickle/node.hpp"
#include "ptio/limits.hpp"

namespace ptio::detail::pickle {

/// What the machine asks of its user. `at` is the absolute offset of the opcode.
class resolver {
public:
    virtual ~resolver() = default;
    virtual value global(std::string_view module, std::string_view name, std::uint64_t at) = 0;
    virtual value persistent(const value& pid, std::uint64_t at) = 0;
    virtual value reduce(const value& callable, const value& args, std::uint64_t at) = 0;
    virtual value instantiate(const value& cls, const value& args, std::uint64_t at) = 0;
    virtual void build(const value& target, const value& state, std::uint64_t at) = 0;
};

struct result {
    value root;
    std::size_t end = 0;  ///< position just after STOP
    int protocol = 0;     ///< from PROTO, 0 when absent (protocols 0 and 1)
};

/// Run one pickle from the start of `c` to its STOP. Nodes go into `nodes`.
result run(cursor& c, arena& nodes, resolver& r, const limits& caps);

}  // namespace ptio::detail::pickle
