// tools/ptio/text.hpp — the CLI's one copy of its byte-level text helpers: hex digits and
// UTF-8 decoding and encoding, for the JSON escaper (json_output.cpp), repr (pyformat.cpp),
// digests (sha256.cpp) and bytes in `show --json` (tree_json.cpp).
//
// Header-only and allocation-free apart from the appends; every function is pure (safe on
// any thread) and never throws beyond std::string's allocation failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ptio_cli {

/// Appends the low `digits` hex digits of `value`, most significant first, lowercase.
inline void append_hex(std::string& out, std::uint32_t value, int digits) {
    static constexpr char hex_digits[] = "0123456789abcdef";
    for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4)
        out += hex_digits[(value >> shift) & 0xF];
}

/// Appends two lowercase hex digits per byte: "00ff".
inline void append_hex(std::string& out, std::span<const std::byte> bytes) {
    out.reserve(out.size() + 2 * bytes.size());
    for (const std::byte b : bytes) append_hex(out, static_cast<std::uint32_t>(b), 2);
}

namespace utf8 {

inline constexpr std::int32_t invalid = -1;

/// Decodes the sequence at text[pos] and advances pos past it. Returns the code point, or
/// `invalid` (advancing one byte) for a byte that starts no well-formed sequence. Encoded
/// surrogates (ED A0..BF xx, as Python's "surrogatepass" writes them) decode to
/// U+D800..U+DFFF so callers can escape them the way Python would.
inline std::int32_t decode(std::string_view text, std::size_t& pos) noexcept {
    const auto byte = [&](std::size_t i) -> std::uint32_t {
        return static_cast<unsigned char>(text[i]);
    };
    const std::uint32_t b0 = byte(pos);
    if (b0 < 0x80) {
        ++pos;
        return static_cast<std::int32_t>(b0);
    }
    std::size_t length = 0;
    std::uint32_t low = 0x80;  // bounds of the second byte
    std::uint32_t high = 0xBF;
    std::uint32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        length = 2;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        length = 3;
        cp = b0 & 0x0F;
        if (b0 == 0xE0) low = 0xA0;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        length = 4;
        cp = b0 & 0x07;
        if (b0 == 0xF0) low = 0x90;
        if (b0 == 0xF4) high = 0x8F;
    } else {
        ++pos;
        return invalid;
    }
    if (text.size() - pos < length) {
        ++pos;
        return invalid;
    }
    for (std::size_t i = 1; i < length; ++i) {
        const std::uint32_t b = byte(pos + i);
        if (i == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) {
            ++pos;
            return invalid;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    pos += length;
    return static_cast<std::int32_t>(cp);
}

/// Appends the UTF-8 encoding of a code point (surrogates included, as "surrogatepass").
inline void encode(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

/// Code points in `text`, counting every byte that does not continue a sequence as one.
[[nodiscard]] inline std::size_t code_points(std::string_view text) noexcept {
    std::size_t n = 0;
    for (const char c : text)
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
    return n;
}

}  // namespace utf8

}  // namespace ptio_cli
