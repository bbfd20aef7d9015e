// pickle/literals — the text and number forms inside pickle opcodes: protocol 0's quoted
// strings, raw-unicode-escape text, decimal integers, floats and memo indices, and
// BINFLOAT's big-endian double. The generic UTF-8, Latin-1 and big-integer helpers are
// core/text's; these add what pickle's grammar says.
//
// Pure functions of their arguments, thread-safe. A malformed literal throws ptio::error
// (bad_pickle, or limit_exceeded past a cap) naming the opcode's offset through `where`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "io/cursor.hpp"

namespace ptio::detail::pickle {

/// Where a literal was read: failures name the file, the record and the opcode's offset.
struct opcode_site {
    const cursor& c;
    std::uint64_t at;
    [[noreturn]] void fail(errc code, const std::string& what) const { c.fail_at(code, at, what); }
    [[noreturn]] void bad(const std::string& what) const { fail(errc::bad_pickle, what); }
};

/// STRING's argument, a Python 2 repr ('…' or "…" with \n, \x41, \101 escapes), as bytes.
[[nodiscard]] std::string unquote(std::string_view literal, const opcode_site& where);

/// UNICODE's argument (raw-unicode-escape: Latin-1 bytes and \uXXXX, \UXXXXXXXX) as UTF-8.
[[nodiscard]] std::string raw_unicode_escape(std::string_view literal, const opcode_site& where);

/// A Python 2 str's bytes as text: UTF-8 as they are, anything else read as Latin-1 (what
/// torch.load's encoding settles on).
[[nodiscard]] std::string py2_text(std::string_view raw);

/// INT's or LONG's decimal text (an optional sign, digits, LONG's trailing L): the value
/// when it fits in int64, else its little-endian two's-complement digits.
[[nodiscard]] std::variant<std::int64_t, std::string> parse_int(std::string_view text,
                                                                const opcode_site& where);

/// FLOAT's text.
[[nodiscard]] double parse_float(std::string_view text, const opcode_site& where);

/// PUT's and GET's decimal memo index.
[[nodiscard]] std::uint64_t parse_memo_index(std::string_view text, const opcode_site& where);

/// BINFLOAT's 8 bytes: an IEEE double, big-endian.
[[nodiscard]] double binfloat(std::span<const std::byte> eight) noexcept;

}  // namespace ptio::detail::pickle
