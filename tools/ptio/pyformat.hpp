// tools/ptio/pyformat.hpp — scalars written the way Python's repr() writes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ptio/value.hpp"

namespace ptio_cli {

/// repr(str): single quotes unless the text has ' and no "; escapes \\, the quote, \t \n \r,
/// \xNN for other control characters and \xNN / \uNNNN / \UNNNNNNNN for the non-printable
/// code points Python escapes (C1 controls, format characters, separators other than the
/// space, private use; unassigned code points pass through). Invalid UTF-8 bytes (which a
/// Python str cannot hold) print as \xNN.
void append_str_repr(std::string& out, std::string_view text);

/// repr(bytes): b'...' with the same quoting rule; \xNN below 0x20 and from 0x7f.
void append_bytes_repr(std::string& out, std::span<const std::byte> bytes);

/// repr(float): the shortest text that reads back to the same double, in Python's layout:
/// "1.0", "0.1", "1e-05", "1e+16", "-0.0", "nan", "inf", "-inf".
void append_float_repr(std::string& out, double x);

/// Python's hex() of an int given as little-endian two's-complement bytes: "0x1f", "-0x80".
void append_int_hex(std::string& out, std::span<const std::byte> twos_complement);

/// An int's decimal text, or nullopt past the 4300 digits CPython's str(int) allows
/// (ptio::value::int_text refuses them: its time grows with the square of the length).
/// Callers print such an int in hex, which is linear and reads back to the same value.
[[nodiscard]] std::optional<std::string> int_decimal(const ptio::value& v);

/// Python's list display of a shape: "[3, 4]", "[]".
void append_shape(std::string& out, std::span<const std::int64_t> shape);

/// For `ls` text output: the text with control characters escaped as in append_str_repr but
/// unquoted, so one name stays on one line.
void append_escaped_name(std::string& out, std::string_view text);

}  // namespace ptio_cli
