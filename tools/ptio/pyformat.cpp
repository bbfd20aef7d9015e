// tools/ptio/pyformat.cpp
#include "pyformat.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <string>

#include "ptio/error.hpp"
#include "text.hpp"

namespace ptio_cli {

namespace {

// Assigned code points Python's str.isprintable() rejects beyond ASCII: categories Cc, Cf,
// Co, Cs, Zl, Zp and Zs (other than the space), plus noncharacters. Unassigned code points
// (Cn) would need the whole Unicode table and are treated as printable.
struct range {
    std::uint32_t first, last;
};
constexpr range non_printable[] = {
    {0x80, 0xA0},       {0xAD, 0xAD},       {0x600, 0x605},      {0x61C, 0x61C},
    {0x6DD, 0x6DD},     {0x70F, 0x70F},     {0x890, 0x891},      {0x8E2, 0x8E2},
    {0x180E, 0x180E},   {0x1680, 0x1680},   {0x2000, 0x200F},    {0x2028, 0x202F},
    {0x205F, 0x206F},   {0x3000, 0x3000},   {0xD800, 0xF8FF},    {0xFDD0, 0xFDEF},
    {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},   {0xFFFE, 0xFFFF},    {0x110BD, 0x110BD},
    {0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3},  {0x1D173, 0x1D17A},
    {0xE0001, 0xE0001}, {0xE0020, 0xE007F}, {0xF0000, 0x10FFFF},
};

bool printable(std::uint32_t cp) noexcept {
    if (cp < 0x80) return cp >= 0x20 && cp != 0x7F;
    if ((cp & 0xFFFE) == 0xFFFE) return false;  // U+xxFFFE / U+xxFFFF noncharacters
    for (const range& r : non_printable)
        if (cp >= r.first && cp <= r.last) return false;
    return true;
}

// Appends one code point of str text as Python's repr escapes it (quote: 0 for none).
void append_repr_char(std::string& out, std::uint32_t cp, char quote) {
    if (cp == '\\' || (quote != 0 && cp == static_cast<unsigned char>(quote))) {
        out += '\\';
        out += static_cast<char>(cp);
    } else if (cp == '\t') {
        out += "\\t";
    } else if (cp == '\n') {
        out += "\\n";
    } else if (cp == '\r') {
        out += "\\r";
    } else if (printable(cp)) {
        utf8::encode(out, cp);
    } else if (cp <= 0xFF) {
        out += "\\x";
        append_hex(out, cp, 2);
    } else if (cp <= 0xFFFF) {
        out += "\\u";
        append_hex(out, cp, 4);
    } else {
        out += "\\U";
        append_hex(out, cp, 8);
    }
}

void append_text_escaped(std::string& out, std::string_view text, char quote) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto byte = static_cast<unsigned char>(text[pos]);
        const std::int32_t cp = utf8::decode(text, pos);
        if (cp == utf8::invalid) {
            out += "\\x";
            append_hex(out, byte, 2);
        } else {
            append_repr_char(out, static_cast<std::uint32_t>(cp), quote);
        }
    }
}

template <class Range>
char choose_quote(const Range& text) {
    bool single = false;
    bool dbl = false;
    for (const auto c : text) {
        single = single || static_cast<char>(c) == '\'';
        dbl = dbl || static_cast<char>(c) == '"';
    }
    return single && !dbl ? '"' : '\'';
}

}  // namespace

void append_str_repr(std::string& out, std::string_view text) {
    const char quote = choose_quote(text);
    out += quote;
    append_text_escaped(out, text, quote);
    out += quote;
}

void append_escaped_name(std::string& out, std::string_view text) {
    append_text_escaped(out, text, 0);
}

void append_bytes_repr(std::string& out, std::span<const std::byte> bytes) {
    const char quote = choose_quote(bytes);
    out += 'b';
    out += quote;
    for (const std::byte b : bytes) {
        const auto c = static_cast<unsigned char>(b);
        if (c == '\\' || c == static_cast<unsigned char>(quote)) {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c >= 0x7F) {
            out += "\\x";
            append_hex(out, c, 2);
        } else {
            out += static_cast<char>(c);
        }
    }
    out += quote;
}

void append_float_repr(std::string& out, double x) {
    if (std::isnan(x)) {
        out += "nan";
        return;
    }
    if (std::signbit(x)) out += '-';
    x = std::fabs(x);
    if (std::isinf(x)) {
        out += "inf";
        return;
    }
    // Shortest round-trip digits, then Python's layout (float_repr_style 'short', mode 'r'):
    // with the value 0.DDD × 10^decpt, exponent notation when decpt <= -4 or decpt > 16.
    char buf[64];
    const auto result = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
    const std::string_view sci(buf, static_cast<std::size_t>(result.ptr - buf));
    const std::size_t e = sci.find('e');
    std::string digits;
    for (const char c : sci.substr(0, e))
        if (c != '.') digits += c;
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    const int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
    const int decpt = exponent + 1;
    const auto ndigits = static_cast<int>(digits.size());
    if (decpt <= -4 || decpt > 16) {
        out += digits[0];
        if (ndigits > 1) {
            out += '.';
            out.append(digits, 1);
        }
        out += exponent < 0 ? "e-" : "e+";
        const int magnitude = std::abs(exponent);
        if (magnitude < 10) out += '0';
        out += std::to_string(magnitude);
    } else if (decpt <= 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-decpt), '0');
        out += digits;
    } else if (decpt >= ndigits) {
        out += digits;
        out.append(static_cast<std::size_t>(decpt - ndigits), '0');
        out += ".0";
    } else {
        out.append(digits, 0, static_cast<std::size_t>(decpt));
        out += '.';
        out.append(digits, static_cast<std::size_t>(decpt));
    }
}

void append_shape(std::string& out, std::span<const std::int64_t> shape) {
    out += '[';
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i != 0) out += ", ";
        char buf[24];
        out.append(buf, std::to_chars(buf, buf + sizeof buf, shape[i]).ptr);
    }
    out += ']';
}

void append_int_hex(std::string& out, std::span<const std::byte> twos_complement) {
    const bool negative =
        !twos_complement.empty() && (static_cast<unsigned>(twos_complement.back()) & 0x80) != 0;
    std::string magnitude(twos_complement.size(), '\0');  // little-endian; ~x + 1 if negative
    unsigned carry = 1;
    for (std::size_t i = 0; i < twos_complement.size(); ++i) {
        unsigned b = static_cast<std::uint8_t>(twos_complement[i]);
        if (negative) {
            b = (~b & 0xFF) + carry;
            carry = b >> 8;
        }
        magnitude[i] = static_cast<char>(b & 0xFF);
    }
    while (!magnitude.empty() && magnitude.back() == '\0') magnitude.pop_back();
    out += negative ? "-0x" : "0x";
    if (magnitude.empty()) {
        out += '0';
        return;
    }
    const auto top = static_cast<std::uint8_t>(magnitude.back());
    append_hex(out, top, top < 16 ? 1 : 2);
    for (std::size_t i = magnitude.size() - 1; i-- > 0;)
        append_hex(out, static_cast<std::uint8_t>(magnitude[i]), 2);
}

std::optional<std::string> int_decimal(const ptio::value& v) {
    try {
        return v.int_text();
    } catch (const ptio::error& e) {
        if (e.code() != ptio::errc::limit_exceeded) throw;
        return std::nullopt;
    }
}

}  // namespace ptio_cli
