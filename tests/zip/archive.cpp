#include <doctest/doctest.h>

#include "ptio/error.hpp"
#include "support/zip_builder.hpp"
#include "zip/archive.hpp"

using ptio::detail::zip::archive;

namespace {
std::span<const std::byte> as_span(const std::vector<std::byte>& v) { return v; }
std::string text(std::span<const std::byte> s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }
}  // namespace

TEST_CASE("zip archive: prefix, lookup, aligned stored payloads, CRC") {
    ptio_test::zip_builder z;
    z.add("my.model/data.pkl", "pickle bytes");
    z.add("my.model/data/0", std::string(100, 'x'));
    z.add("my.model/data/1", "");
    z.add("my.model/version", "3\n");
    const auto bytes = z.finish();
    archive a(as_span(bytes), "mem.pt", 1000);
    CHECK(a.prefix() == "my.model");
    REQUIRE(a.entries().size() == 4);
    const auto* e = a.find("data/0");
    REQUIRE(e != nullptr);
    CHECK(a.payload_offset(*e) % 64 == 0);
    CHECK(text(a.stored(*e)) == std::string(100, 'x'));
    CHECK_NOTHROW(a.check_crc(*e, a.stored(*e)));
    CHECK(a.find("DATA.PKL") != nullptr);  // case-insensitive fallback, as torch's miniz
    CHECK(a.find("data/2") == nullptr);
    CHECK(a.stored(*a.find("data/1")).empty());
    CHECK(a.relative_name(*e) == "data/0");
}

TEST_CASE("zip archive: a flipped payload byte fails the CRC check only") {
    ptio_test::zip_builder z;
    z.add("a/data.pkl", "abcdef");
    auto bytes = z.finish();
    archive clean(as_span(bytes), "f.pt", 10);
    const auto off = clean.payload_offset(clean.entries()[0]);
    bytes[off] = std::byte{'X'};
    archive a(as_span(bytes), "f.pt", 10);
    const auto& e = a.entries()[0];
    CHECK(text(a.stored(e)) == "Xbcdef");
    try {
        a.check_crc(e, a.stored(e));
        FAIL("no crc error");
    } catch (const ptio::error& err) {
        CHECK(err.code() == ptio::errc::crc_mismatch);
        CHECK(std::string(err.what()).find("a/data.pkl") != std::string::npos);
    }
}

TEST_CASE("zip archive: structural errors name the file and offset") {
    ptio_test::zip_builder z;
    z.add("a/data.pkl", "abc");
    const auto good = z.finish();
    auto code_of = [](std::vector<std::byte> b) {
        try {
            archive a(as_span(b), "bad.pt", 10);
            for (const auto& e : a.entries()) (void)a.stored(e);
        } catch (const ptio::error& e) {
            CHECK(std::string(e.what()).rfind("bad.pt: ", 0) == 0);
            return e.code();
        }
        return ptio::errc::invalid_argument;
    };
    CHECK(code_of({good.begin(), good.begin() + 10}) == ptio::errc::truncated);
    CHECK(code_of({good.begin(), good.end() - 5}) == ptio::errc::truncated);
    auto no_prefix = [] {
        ptio_test::zip_builder b;
        b.add("data.pkl", "x");
        return b.finish();
    }();
    CHECK(code_of(no_prefix) == ptio::errc::bad_zip);
    auto dup = [] {
        ptio_test::zip_builder b;
        b.add("a/x", "1");
        b.add("a/x", "2");
        return b.finish();
    }();
    CHECK(code_of(dup) == ptio::errc::bad_zip);
    auto bad_local = good;
    bad_local[0] = std::byte{0};  // local header signature
    CHECK(code_of(bad_local) == ptio::errc::bad_zip);
}

TEST_CASE("crc32: the carry-less multiplication path equals zlib at every length and offset") {
    std::vector<std::byte> data(5000);
    std::uint64_t x = 88172645463325252ull;
    for (auto& b : data) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b = static_cast<std::byte>(x);
    }
    for (std::size_t offset : {0, 1, 3, 8, 15}) {
        for (std::size_t n = 0; n + offset <= 1200; n += (n < 300 ? 1 : 37)) {
            const auto s = std::span<const std::byte>(data).subspan(offset, n);
            CHECK(ptio::detail::zip::crc32(s) == ptio::detail::zip::crc32_reference(s));
        }
    }
    const auto all = std::span<const std::byte>(data);
    CHECK(ptio::detail::zip::crc32_update(ptio::detail::zip::crc32(all.first(1000)), all.subspan(1000)) ==
          ptio::detail::zip::crc32_reference(all));
}
