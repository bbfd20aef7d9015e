#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "io/mapped_file.hpp"
#include "ptio/error.hpp"

namespace fs = std::filesystem;
using ptio::detail::mapped_file;

TEST_CASE("mapped_file: maps a file's bytes, read-only and copy-on-write; reads a small one") {
    const auto path = fs::temp_directory_path() / "ptio_mapped_file_test.bin";
    { std::ofstream(path, std::ios::binary) << "hello mapping"; }
    for (auto mode : {mapped_file::mode::read_only, mapped_file::mode::copy_on_write}) {
        auto m = mapped_file::map(path, mode);
        REQUIRE(m.size() == 13);
        CHECK(std::string(reinterpret_cast<const char*>(m.bytes().data()), 5) == "hello");
        // Small and read-only: read into memory; copy-on-write must stay a (writable) mapping.
        CHECK(m.is_mapping() == (mode == mapped_file::mode::copy_on_write));
        CHECK(m.is_file() == m.is_mapping());
        CHECK(reinterpret_cast<std::uintptr_t>(m.bytes().data()) % mapped_file::buffer_alignment == 0);
        auto moved = std::move(m);
        CHECK(moved.size() == 13);
        CHECK(m.size() == 0);  // NOLINT: moved-from is empty by contract
    }
    fs::remove(path);
}

TEST_CASE("mapped_file: read_limit is the largest file read; a read file is a snapshot") {
    const auto path = fs::temp_directory_path() / "ptio_mapped_file_limit.bin";
    for (const std::uint64_t size : {mapped_file::read_limit, mapped_file::read_limit + 1}) {
        CAPTURE(size);
        {
            std::ofstream f(path, std::ios::binary);
            for (std::uint64_t i = 0; i < size; ++i) f.put(static_cast<char>(i * 7));
        }
        const auto m = mapped_file::map(path);
        REQUIRE(m.size() == size);
        CHECK(m.is_mapping() == (size > mapped_file::read_limit));
        CHECK(m.is_read_only_mapping() == m.is_mapping());
        bool same = true;
        for (std::uint64_t i = 0; i < size; ++i) same = same && m.bytes()[i] == static_cast<std::byte>(i * 7);
        CHECK(same);
        if (!m.is_mapping()) {
            // Cut under a read file: its bytes stay as they were read (nothing can fault).
            fs::resize_file(path, 0);
            CHECK(m.bytes()[size - 1] == static_cast<std::byte>((size - 1) * 7));
        }
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
