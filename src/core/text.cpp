#include "core/text.hpp"

#include <algorithm>
#include <bit>
#include <vector>

namespace ptio::detail::text {

void append_utf8(std::string& out, std::uint32_t cp) {
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

bool valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int len = 0;
        std::uint32_t cp = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - p < len) return false;
        for (int i = 1; i < len; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;  // overlong or out of range; surrogates pass, as in CPython's pickle
        p += len;
    }
    return true;
}

std::string latin1_to_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) append_utf8(out, c);
    return out;
}

std::optional<std::string> utf8_to_latin1(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
            const unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
            if (cp > 0xFF) return std::nullopt;
            out += static_cast<char>(cp);
            ++i;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

std::string hex_prefix(std::span<const std::byte> b, std::size_t max) {
    std::string out;
    static constexpr char digits[] = "0123456789abcdef";
    for (std::size_t i = 0; i < std::min(b.size(), max); ++i) {
        if (i) out += ' ';
        out += digits[static_cast<unsigned>(b[i]) >> 4];
        out += digits[static_cast<unsigned>(b[i]) & 15];
    }
    return out;
}

std::optional<std::string> decimal_to_twos(std::string_view decimal) {
    bool negative = false;
    std::string_view d = decimal;
    if (!d.empty() && (d[0] == '-' || d[0] == '+')) {
        negative = d[0] == '-';
        d.remove_prefix(1);
    }
    if (d.empty() || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    std::vector<unsigned> mag;  // little-endian base 256
    for (char c : d) {
        unsigned carry = static_cast<unsigned>(c - '0');
        for (auto& b : mag) {
            const unsigned v = b * 10 + carry;
            b = v & 0xFF;
            carry = v >> 8;
        }
        while (carry != 0) {
            mag.push_back(carry & 0xFF);
            carry >>= 8;
        }
    }
    mag.push_back(0);  // room for the sign bit
    if (negative) {
        unsigned carry = 1;
        for (auto& b : mag) {
            const unsigned v = (~b & 0xFF) + carry;
            b = v & 0xFF;
            carry = v >> 8;
        }
    }
    while (mag.size() > 1 && ((mag.back() == 0x00 && (mag[mag.size() - 2] & 0x80) == 0) ||
                              (mag.back() == 0xFF && (mag[mag.size() - 2] & 0x80) != 0)))
        mag.pop_back();  // the shortest two's-complement form
    std::string out(mag.size(), '\0');
    for (std::size_t i = 0; i < mag.size(); ++i) out[i] = static_cast<char>(mag[i]);
    return out;
}

std::optional<std::int64_t> twos_to_int64(std::span<const std::byte> b) noexcept {
    if (b.empty()) return 0;
    const bool neg = (static_cast<unsigned>(b.back()) & 0x80) != 0;
    const auto fill = static_cast<std::byte>(neg ? 0xFF : 0x00);
    if (b.size() > 8) {
        for (std::size_t i = 8; i < b.size(); ++i)
            if (b[i] != fill) return std::nullopt;
        if (((static_cast<unsigned>(b[7]) & 0x80) != 0) != neg) return std::nullopt;
    }
    std::uint64_t v = neg ? ~std::uint64_t{0} : 0;
    for (std::size_t i = 0; i < std::min<std::size_t>(b.size(), 8); ++i) {
        v &= ~(std::uint64_t{0xFF} << (8 * i));
        v |= std::uint64_t{static_cast<std::uint8_t>(b[i])} << (8 * i);
    }
    return static_cast<std::int64_t>(v);
}

std::optional<std::string> twos_to_decimal(std::span<const std::byte> b, std::size_t max_digits) {
    const bool negative = !b.empty() && (static_cast<unsigned>(b.back()) & 0x80) != 0;
    // The magnitude in 32-bit limbs, little-endian: ~x + 1 for a negative value.
    std::vector<std::uint32_t> mag((b.size() + 3) / 4, 0);
    unsigned carry = negative ? 1 : 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        unsigned v = static_cast<std::uint8_t>(b[i]);
        if (negative) {
            v = (~v & 0xFF) + carry;
            carry = v >> 8;
            v &= 0xFF;
        }
        mag[i / 4] |= std::uint32_t{v} << (8 * (i % 4));
    }
    while (!mag.empty() && mag.back() == 0) mag.pop_back();
    if (!mag.empty()) {
        // A value of `bits` bits has at least floor((bits - 1) * log10(2)) + 1 digits.
        const std::uint64_t bits = 32 * (mag.size() - 1) + static_cast<std::uint64_t>(std::bit_width(mag.back()));
        if ((bits - 1) * 30103 / 100000 + 1 > max_digits) return std::nullopt;
    }
    // Nine digits per pass: divide the limbs by 10^9 and keep the remainder.
    std::string reversed;
    while (!mag.empty()) {
        std::uint64_t rem = 0;
        for (std::size_t i = mag.size(); i-- > 0;) {
            const std::uint64_t cur = (rem << 32) | mag[i];
            mag[i] = static_cast<std::uint32_t>(cur / 1000000000);
            rem = cur % 1000000000;
        }
        while (!mag.empty() && mag.back() == 0) mag.pop_back();
        for (int k = 0; k < 9 && (rem != 0 || !mag.empty()); ++k, rem /= 10)
            reversed.push_back(static_cast<char>('0' + rem % 10));
    }
    if (reversed.empty()) reversed.push_back('0');
    if (reversed.size() > max_digits) return std::nullopt;
    if (negative) reversed.push_back('-');
    return std::string(reversed.rbegin(), reversed.rend());
}

}  // namespace ptio::detail::text
