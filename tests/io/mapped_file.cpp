#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "io/mapped_file.hpp"
#include "ptio/error.hpp"

namespace fs = std::filesystem;
using ptio::detail::mapped_file;

TEST_CASE("mapped_file: maps a file's bytes, read-only and copy-on-write") {
    const auto path = fs::temp_directory_path() / "ptio_mapped_file_test.bin";
    { std::ofstream(path, std::ios::binary) << "hello mapping"; }
    for (auto mode : {mapped_file::mode::read_only, mapped_file::mode::copy_on_write}) {
        auto m = mapped_file::map(path, mode);
        REQUIRE(m.size() == 13);
        CHECK(std::string(reinterpret_cast<const char*>(m.bytes().data()), 5) == "hello");
        CHECK(m.is_mapping());
        auto moved = std::move(m);
        CHECK(moved.size() == 13);
        CHECK(m.size() == 0);  // NOLINT: moved-from is empty by contract
    }
    fs::remove(path);
}

TEST_CASE("mapped_file: an empty file is an empty mapping; directories and missing files are io_error") {
    const auto path = fs::temp_directory_path() / "ptio_mapped_file_empty.bin";
    { std::ofstream(path, std::ios::binary); }
    CHECK(mapped_file::map(path).size() == 0);
    fs::remove(path);
    auto code_of = [](const fs::path& p) {
        try {
            (void)mapped_file::map(p);
        } catch (const ptio::error& e) {
            CHECK(std::string(e.what()).find(p.string()) != std::string::npos);
            return e.code();
        }
        return ptio::errc::invalid_argument;
    };
    CHECK(code_of(fs::temp_directory_path()) == ptio::errc::io_error);
    CHECK(code_of("/nonexistent/ptio.pt") == ptio::errc::io_error);
}

TEST_CASE("mapped_file: borrowed and adopted bytes behave like a mapping") {
    std::vector<std::byte> v(10, std::byte{7});
    auto b = mapped_file::borrow(v);
    CHECK(b.bytes().data() == v.data());
    auto a = mapped_file::adopt(std::vector<std::byte>(v));
    auto a2 = std::move(a);
    REQUIRE(a2.size() == 10);
    CHECK(a2.bytes()[9] == std::byte{7});
}
