// pickle::pickler — writes a protocol-2 pickle stream, opcode by opcode.
//
// Only the opcodes torch's weights_only unpickler accepts are offered; the tree pickler
// (src/save/tree_pickler.cpp) decides what to say with them. Globals are memoised: the first
// use writes GLOBAL and BINPUT, later ones BINGET, as Python's pickler does.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pickle/opcodes.hpp"

namespace ptio::detail::pickle {

class pickler {
public:
    pickler();  // writes PROTO 2

    void none();
    void boolean(bool b);
    void integer(std::int64_t i);
    /// An int from its two's-complement little-endian bytes (any length).
    void long_bytes(std::span<const std::byte> twos_complement_le);
    void floating(double f);
    /// UTF-8 text; throws invalid_argument if it is not valid UTF-8.
    void string(std::string_view utf8);
    /// GLOBAL module name, memoised. Module names get Python 2's spelling (builtins →
    /// __builtin__) as CPython's protocol-2 pickler writes them.
    void global(std::string_view module, std::string_view name);

    void mark();
    void empty_tuple();
    /// Pack the last n values (n ≤ 3) with TUPLE1/2/3, or everything above the mark (TUPLE).
    void tuple_small(std::size_t n);
    void tuple_from_mark();
    void empty_list();
    void append();
    void appends();  // from mark
    void empty_dict();
    void setitem();
    void setitems();  // from mark
    void reduce();
    void newobj();
    void build();
    void binpersid();

    /// Memo: remember the value on top; recall it later.
    [[nodiscard]] std::uint32_t put();
    void get(std::uint32_t index);
    /// Drop the value on top (POP): an object built again inside itself, replaced by the
    /// memo's copy, as CPython's pickler writes a recursive reduce.
    void pop();

    /// STOP, and the bytes.
    [[nodiscard]] std::vector<std::byte> finish();

private:
    void op(opcode c) { out_.push_back(static_cast<std::byte>(c)); }
    void le(std::uint64_t v, int n);
    void raw(std::string_view s);

    std::vector<std::byte> out_;
    std::uint32_t next_memo_ = 0;
    std::unordered_map<std::string, std::uint32_t> globals_;
};

}  // namespace ptio::detail::pickle
