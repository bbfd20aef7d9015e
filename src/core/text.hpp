// core/text — the text and number helpers every layer shares: UTF-8 as CPython's pickle
// accepts it, Latin-1, hex digits and decimal big integers. Pure functions of their
// arguments: no allocation beyond the strings they return, no exceptions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ptio::detail::text {

/// Append the UTF-8 encoding of code point `cp` (≤ 0x10FFFF; surrogates are encoded as
/// CPython's 'surrogatepass' does).
void append_utf8(std::string& out, std::uint32_t cp);

/// True when `s` is UTF-8 as CPython's pickle reads and writes it: shortest forms only, code
/// points up to 0x10FFFF, encoded surrogates allowed ('surrogatepass').
[[nodiscard]] bool valid_utf8(std::string_view s) noexcept;

/// Latin-1 bytes → UTF-8 text (every byte is the code point of its value).
[[nodiscard]] std::string latin1_to_utf8(std::string_view s);

/// UTF-8 text → Latin-1 bytes; nullopt when a code point is above 255 or `s` is not UTF-8.
[[nodiscard]] std::optional<std::string> utf8_to_latin1(std::string_view s);

/// The first `max` bytes as lower-case hex pairs separated by spaces ("50 4b 03 04").
[[nodiscard]] std::string hex_prefix(std::span<const std::byte> b, std::size_t max = 8);

/// Decimal text with an optional sign → the shortest little-endian two's-complement bytes
/// (what pickle's LONG1 carries); nullopt when anything but a sign and digits is in it or
/// no digit is.
[[nodiscard]] std::optional<std::string> decimal_to_twos(std::string_view decimal);

/// Little-endian two's-complement bytes → an int64, or nullopt when the value does not fit.
[[nodiscard]] std::optional<std::int64_t> twos_to_int64(std::span<const std::byte> b) noexcept;

/// The most decimal digits ptio reads or writes for one integer: CPython's own default
/// limit for int(str) and str(int). Conversions between decimal and binary take time that
/// grows with the square of the length; a cap keeps a small file from costing seconds.
inline constexpr std::size_t max_int_digits = 4300;

/// Little-endian two's-complement bytes → decimal text ("-12"), or nullopt when it would
/// have more than `max_digits` digits (decided from the length before converting, so a long
/// value costs nothing). Empty bytes are 0.
[[nodiscard]] std::optional<std::string> twos_to_decimal(std::span<const std::byte> b,
                                                         std::size_t max_digits = max_int_digits);

}  // namespace ptio::detail::text
