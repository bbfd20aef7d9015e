// Protocol 0 spells its arguments as Python 2 reprs; these read them as CPython's
// unpickler does, refusing what it refuses.
#include "pickle/literals.hpp"

#include <algorithm>
#include <bit>
#include <charconv>

#include "core/text.hpp"

namespace ptio::detail::pickle {

std::string unquote(std::string_view lit, const opcode_site& where) {
    if (lit.size() < 2 || (lit.front() != '\'' && lit.front() != '"') || lit.back() != lit.front())
        where.bad("STRING argument is not a quoted literal");
    lit = lit.substr(1, lit.size() - 2);
    std::string out;
    for (std::size_t i = 0; i < lit.size(); ++i) {
        char ch = lit[i];
        if (ch != '\\') {
            out += ch;
            continue;
        }
        if (++i == lit.size()) where.bad("STRING literal ends in a backslash");
        ch = lit[i];
        switch (ch) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'v': out += '\v'; break;
            case '\\': case '\'': case '"': out += ch; break;
            case '\n': break;
            case 'x': {
                if (i + 2 > lit.size()) where.bad("truncated \\x escape");
                unsigned v = 0;
                auto [p, ec] = std::from_chars(lit.data() + i + 1, lit.data() + std::min(lit.size(), i + 3), v, 16);
                if (ec != std::errc() || p != lit.data() + i + 3) where.bad("malformed \\x escape");
                out += static_cast<char>(v);
                i += 2;
                break;
            }
            default:
                if (ch >= '0' && ch <= '7') {  // up to three octal digits
                    unsigned v = 0;
                    std::size_t j = i;
                    for (; j < lit.size() && j < i + 3 && lit[j] >= '0' && lit[j] <= '7'; ++j)
                        v = v * 8 + static_cast<unsigned>(lit[j] - '0');
                    out += static_cast<char>(v & 0xFF);
                    i = j - 1;
                } else {  // Python 2 keeps an unknown escape as it is
                    out += '\\';
                    out += ch;
                }
        }
    }
    return out;
}

std::string raw_unicode_escape(std::string_view lit, const opcode_site& where) {
    std::string out;
    for (std::size_t i = 0; i < lit.size(); ++i) {
        const auto ch = static_cast<unsigned char>(lit[i]);
        if (ch == '\\' && i + 1 < lit.size() && (lit[i + 1] == 'u' || lit[i + 1] == 'U')) {
            const std::size_t n = lit[i + 1] == 'u' ? 4 : 8;
            if (i + 2 + n > lit.size()) where.bad("truncated \\u escape in UNICODE");
            std::uint32_t cp = 0;
            auto [p, ec] = std::from_chars(lit.data() + i + 2, lit.data() + i + 2 + n, cp, 16);
            if (ec != std::errc() || p != lit.data() + i + 2 + n || cp > 0x10FFFF)
                where.bad("malformed \\u escape in UNICODE");
            text::append_utf8(out, cp);
            i += 1 + n;
        } else {
            text::append_utf8(out, ch);
        }
    }
    return out;
}

std::string py2_text(std::string_view raw) {
    return text::valid_utf8(raw) ? std::string(raw) : text::latin1_to_utf8(raw);
}

// Decimal to binary is quadratic; checkpoints hold a few bytes' worth, so longer literals
// are refused, as CPython's int(str) refuses them.
using text::max_int_digits;

std::variant<std::int64_t, std::string> parse_int(std::string_view text, const opcode_site& where) {
    std::string_view t = text;
    if (!t.empty() && t.back() == 'L') t.remove_suffix(1);
    if (t.empty()) where.bad("an empty integer literal");
    std::int64_t v = 0;
    const char* b = t.data();
    if (*b == '+') ++b;
    auto [p, ec] = std::from_chars(b, t.data() + t.size(), v);
    if (ec == std::errc() && p == t.data() + t.size()) return v;
    for (std::size_t i = (t[0] == '-' || t[0] == '+') ? 1 : 0; i < t.size(); ++i)
        if (t[i] < '0' || t[i] > '9') where.bad("a malformed integer literal '" + std::string(text) + "'");
    if (ec != std::errc::result_out_of_range) where.bad("a malformed integer literal");
    if (t.size() > max_int_digits)
        where.fail(errc::limit_exceeded, "an integer literal of " + std::to_string(t.size()) +
                                             " digits, over the cap of " + std::to_string(max_int_digits));
    auto digits = text::decimal_to_twos(t);
    if (!digits) where.bad("a malformed integer literal '" + std::string(text) + "'");
    return std::move(*digits);
}

double parse_float(std::string_view t, const opcode_site& where) {
    double d = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
    if (ec != std::errc() || p != t.data() + t.size()) where.bad("a malformed FLOAT literal");
    return d;
}

std::uint64_t parse_memo_index(std::string_view t, const opcode_site& where) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size()) where.bad("a malformed memo index");
    return v;
}

double binfloat(std::span<const std::byte> eight) noexcept {
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < 8; ++i) bits = (bits << 8) | std::to_integer<std::uint64_t>(eight[i]);
    return std::bit_cast<double>(bits);
}

}  // namespace ptio::detail::pickle
