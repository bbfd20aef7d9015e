// tools/ptio/pyformat.hpp — scalars written the way Python's repr() writes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

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

/// Python's list display of a shape: "[3, 4]", "[]".
void append_shape(std::string& out, std::span<const std::int64_t> shape);

/// For `ls` text output: the text with control characters escaped as in append_str_repr but
/// unquoted, so one name stays on one line.
void append_escaped_name(std::string& out, std::string_view text);

}  // namespace ptio_cli
