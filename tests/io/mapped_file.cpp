#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

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

namespace {
// The resident kilobytes of the mapping that starts at `p` (/proc/self/smaps), or -1.
long resident_kb(const void* p) {
    std::ifstream smaps("/proc/self/smaps");
    const auto want = reinterpret_cast<std::uintptr_t>(p);
    std::string line;
    bool in = false;
    while (std::getline(smaps, line)) {
        unsigned long lo = 0, hi = 0;  // a mapping's header line: "lo-hi perms offset …"
        if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2) {
            in = lo <= want && want < hi;
            continue;
        }
        long kb = 0;
        if (in && std::sscanf(line.c_str(), "Rss: %ld kB", &kb) == 1) return kb;
    }
    return -1;
}
}  // namespace

TEST_CASE("mapped_file: release_pages drops a read-only mapping's pages; the bytes read the same after") {
    const auto path = fs::temp_directory_path() / ("ptio_mapped_file_release_" + std::to_string(::getpid()) + ".bin");
    const std::uint64_t size = 1 << 20;
    {
        std::ofstream f(path, std::ios::binary);
        for (std::uint64_t i = 0; i < size; ++i) f.put(static_cast<char>(i * 13));
    }
    for (auto mode : {mapped_file::mode::read_only, mapped_file::mode::copy_on_write}) {
        const auto m = mapped_file::map(path, mode);
        REQUIRE(m.is_mapping());
        for (std::uint64_t i = 0; i < size; i += 4096) {  // fault every page in
            const volatile std::byte* p = m.bytes().data() + i;
            (void)*p;
        }
        const long touched = resident_kb(m.bytes().data());
        CHECK(touched >= static_cast<long>(size / 1024));
        m.release_pages();
        const long after = resident_kb(m.bytes().data());
        // Read-only: the pages are gone from the process; copy-on-write: kept (a no-op).
        if (mode == mapped_file::mode::read_only) CHECK(after == 0);
        else CHECK(after == touched);
        bool same = true;
        for (std::uint64_t i = 0; i < size; ++i) same = same && m.bytes()[i] == static_cast<std::byte>(i * 13);
        CHECK(same);
    }
    fs::remove(path);
}
