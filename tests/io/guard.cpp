// The guard on its own: a read of a mapping whose file shrank is an io_error naming the file
// and the offset, on every thread at once; a fault outside any guard still kills the process
// (the handler passes it on instead of hiding it).
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "io/guard.hpp"
#include "io/mapped_file.hpp"
#include "ptio/error.hpp"

namespace fs = std::filesystem;
using ptio::detail::mapped_file;

namespace {

// A file of `size` bytes, mapped, then truncated to `keep` under the mapping. A file of at
// most mapped_file::read_limit bytes would be read, not mapped: every size here is larger.
struct shrunk_mapping {
    fs::path path;
    mapped_file map;
    shrunk_mapping(const std::string& name, std::size_t size, std::size_t keep)
        : path(fs::temp_directory_path() / (name + std::to_string(::getpid()))) {
        { std::ofstream(path, std::ios::binary) << std::string(size, 'x'); }
        map = mapped_file::map(path);
        REQUIRE(map.is_mapping());
        fs::resize_file(path, keep);
    }
    ~shrunk_mapping() { fs::remove(path); }
};

}  // namespace

TEST_CASE("guard: a copy from a mapping whose file shrank is an io_error naming the file and offset") {
    shrunk_mapping m("ptio_guard_", 1 << 20, 8192);
    std::vector<std::byte> out(m.map.size());
    try {
        ptio::detail::guarded_copy(out.data(), m.map.bytes(), "data/0");
        FAIL("no error");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::io_error);
        CHECK(e.file() == m.path.string());
        CHECK(e.record() == "data/0");
        REQUIRE(e.offset());
        // A byte past the new end: where the copy first touched a missing page. Which one
        // that is depends on the memcpy (glibc's AVX-512 copy reads a large block's tail
        // first), so only the range is the contract.
        CHECK(*e.offset() >= 8192);
        CHECK(*e.offset() < m.map.size());
        CHECK(std::string(e.what()).find("the file shrank while it was being read") != std::string::npos);
    }
    // The bytes still in the file read as before, and the guard is gone after a fault.
    ptio::detail::guarded_copy(out.data(), m.map.bytes().first(8192));
    CHECK(out[8191] == std::byte{'x'});
}

TEST_CASE("guard: eight threads reading one shrunk mapping each get their own io_error") {
    shrunk_mapping m("ptio_guard_threads_", 8 << 20, 0);
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            std::vector<std::byte> out(1 << 20);
            for (int round = 0; round < 50; ++round) {
                try {
                    ptio::detail::guarded_copy(out.data(), m.map.bytes().subspan(static_cast<std::size_t>(t) << 20, 1 << 20));
                } catch (const ptio::error& e) {
                    if (e.code() == ptio::errc::io_error) ++errors;
                }
            }
        });
    for (auto& t : threads) t.join();
    CHECK(errors == 8 * 50);
}

TEST_CASE("guard: a fault in an outer guard's range, inside an inner guard, lands in the outer one") {
    shrunk_mapping m("ptio_guard_nested_", 1 << 17, 0);
    const auto bytes = m.map.bytes();
    struct read_one {
        const std::byte* from;
        std::byte got;
    } ctx{bytes.data(), {}};
    bool inner_returned = false;
    CHECK_THROWS_AS(ptio::detail::guarded(bytes, "outer", [&]() noexcept {
                        std::byte other{};
                        const std::byte* fault = nullptr;
                        // The inner guard covers one other byte; its leaf reads the outer range.
                        (void)ptio::detail::run_guarded(
                            &other, 1,
                            [](void* c) noexcept {
                                auto* r = static_cast<read_one*>(c);
                                r->got = *static_cast<const volatile std::byte*>(r->from);
                            },
                            &ctx, fault);
                        inner_returned = true;
                    }),
                    ptio::error);
    CHECK_FALSE(inner_returned);
    // Both guards are gone: the next guarded read faults and is caught as usual.
    std::vector<std::byte> out(16);
    CHECK_THROWS_AS(ptio::detail::guarded_copy(out.data(), bytes.first(16)), ptio::error);
}

TEST_CASE("guard: a fault outside every guard still ends the process with SIGBUS") {
    shrunk_mapping m("ptio_guard_unguarded_", 1 << 17, 0);
    std::vector<std::byte> out(16);
    CHECK_THROWS_AS(ptio::detail::guarded_copy(out.data(), m.map.bytes().first(16)), ptio::error);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The handler is installed (the guard above ran); this read is no guard's.
        const auto v = *static_cast<const volatile std::byte*>(m.map.bytes().data());
        ::_exit(static_cast<int>(v));
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGBUS);
}
