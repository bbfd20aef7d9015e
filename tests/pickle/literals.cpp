// pickle/literals on their own: protocol 0's text forms decoded as CPython's unpickler
// decodes them, and the malformed ones refused with the opcode's offset.
#include <doctest/doctest.h>

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "core/text.hpp"
#include "io/cursor.hpp"
#include "pickle/literals.hpp"

using namespace std::string_literals;
using ptio::detail::pickle::opcode_site;

namespace {

const ptio::detail::cursor nowhere({}, {"lit.pt", "data.pkl", 0});
const opcode_site site{nowhere, 42};

template <class F>
ptio::errc code_of(F&& decode) {
    try {
        decode();
    } catch (const ptio::error& e) {
        CHECK(e.offset() == 42u);
        return e.code();
    }
    FAIL("no error");
    return ptio::errc::invalid_argument;
}

}  // namespace

TEST_CASE("pickle literals: STRING reprs and their escapes") {
    using ptio::detail::pickle::unquote;
    CHECK(unquote("'abc'", site) == "abc");
    CHECK(unquote("\"it's\"", site) == "it's");
    CHECK(unquote(R"('a\nb\t\\\'\x41\101\0')", site) == "a\nb\t\\'AA\0"s);
    CHECK(unquote(R"('\q')", site) == "\\q");  // unknown escapes stay as written
    CHECK(code_of([] { (void)unquote("abc", site); }) == ptio::errc::bad_pickle);
    CHECK(code_of([] { (void)unquote(R"('\')", site); }) == ptio::errc::bad_pickle);
    CHECK(code_of([] { (void)unquote(R"('\x4')", site); }) == ptio::errc::bad_pickle);
    CHECK(code_of([] { (void)unquote(R"('\xzz')", site) ; }) == ptio::errc::bad_pickle);
}

TEST_CASE("pickle literals: raw-unicode-escape and Python 2 str bytes") {
    using ptio::detail::pickle::py2_text;
    using ptio::detail::pickle::raw_unicode_escape;
    CHECK(raw_unicode_escape(R"(x\u00e9\U0001F600)", site) == "x\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(raw_unicode_escape("\xe9", site) == "\xc3\xa9");  // a Latin-1 byte
    CHECK(code_of([] { (void)raw_unicode_escape(R"(\u00e)", site); }) == ptio::errc::bad_pickle);
    CHECK(code_of([] { (void)raw_unicode_escape(R"(\U00110000)", site); }) == ptio::errc::bad_pickle);
    CHECK(py2_text("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 as it is
    CHECK(py2_text("caf\xe9") == "caf\xc3\xa9");      // anything else as Latin-1
}

TEST_CASE("pickle literals: integers, floats and memo indices") {
    using ptio::detail::pickle::parse_int;
    CHECK(std::get<std::int64_t>(parse_int("-5", site)) == -5);
    CHECK(std::get<std::int64_t>(parse_int("+7L", site)) == 7);
    CHECK(std::get<std::string>(parse_int("9223372036854775808", site)) ==
          "\x00\x00\x00\x00\x00\x00\x00\x80\x00"s);  // 2**63: nine two's-complement bytes
    CHECK(code_of([] { (void)parse_int("", site); }) == ptio::errc::bad_pickle);
    CHECK(code_of([] { (void)parse_int("12a", site); }) == ptio::errc::bad_pickle);
    CHECK(code_of([] { (void)parse_int(std::string(5000, '9'), site); }) == ptio::errc::limit_exceeded);
    CHECK(ptio::detail::pickle::parse_float("2.5", site) == 2.5);
    CHECK(code_of([] { (void)ptio::detail::pickle::parse_float("2.5x", site); }) == ptio::errc::bad_pickle);
    CHECK(ptio::detail::pickle::parse_memo_index("17", site) == 17u);
    CHECK(code_of([] { (void)ptio::detail::pickle::parse_memo_index("-1", site); }) == ptio::errc::bad_pickle);
    const unsigned char one_half[] = {0x3f, 0xe0, 0, 0, 0, 0, 0, 0};
    CHECK(ptio::detail::pickle::binfloat(std::as_bytes(std::span(one_half))) == 0.5);
}

TEST_CASE("core/text: two's complement to decimal, and its cap") {
    using ptio::detail::text::twos_to_decimal;
    const auto dec = [](std::initializer_list<unsigned> b) {
        std::vector<std::byte> v;
        for (unsigned x : b) v.push_back(static_cast<std::byte>(x));
        return twos_to_decimal(v);
    };
    CHECK(dec({}) == "0");
    CHECK(dec({0x00}) == "0");
    CHECK(dec({0xff}) == "-1");
    CHECK(dec({0x80}) == "-128");
    CHECK(dec({0x00, 0xca, 0x9a, 0x3b}) == "1000000000");  // 10^9: one limb of digits exactly
    CHECK(dec({0x00, 0x00, 0x64, 0xa7, 0xb3, 0xb6, 0xe0, 0x0d}) == "1000000000000000000");
    CHECK(dec({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}) == "18446744073709551616");
    CHECK(dec({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff}) == "-18446744073709551616");
    // 10^4300 - 1 has 4300 digits; 10^4300 has 4301.
    const auto twos = [](const std::string& decimal) {
        const auto t = ptio::detail::text::decimal_to_twos(decimal);
        REQUIRE(t);
        return std::vector<std::byte>(std::as_bytes(std::span(*t)).begin(), std::as_bytes(std::span(*t)).end());
    };
    CHECK(twos_to_decimal(twos(std::string(4300, '9'))) == std::string(4300, '9'));
    CHECK(twos_to_decimal(twos("-" + std::string(4300, '9'))) == "-" + std::string(4300, '9'));
    CHECK_FALSE(twos_to_decimal(twos("1" + std::string(4300, '0'))));
    CHECK_FALSE(twos_to_decimal(std::vector<std::byte>(100000, std::byte{0x11})));
}
