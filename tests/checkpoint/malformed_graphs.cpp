// Broken files whose danger is their size or shape, not a wrong byte: cyclic and
// exponentially shared object graphs, keys and rebuild calls nested past the caps. Each must
// open or fail with ptio::error, within bounded memory and time, never crash or hang.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "checkpoint/malformed_support.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"
#include "ptio/save.hpp"
#include "ptio/tree.hpp"

using namespace malformed_support;

namespace {

// Files whose failure mode is exhausted memory: cap the address space around the open so a
// regression fails this test instead of the machine. Under AddressSanitizer (which reserves
// terabytes of address space up front) the cap cannot be used; those runs need
// ASAN_OPTIONS=hard_rss_limit_mb=N, and without it the test is skipped.
#if defined(__SANITIZE_ADDRESS__)
#define PTIO_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PTIO_TEST_ASAN 1
#endif
#endif

class memory_cap {
public:
    explicit memory_cap(std::uint64_t extra_bytes) {
#if defined(__linux__) && !defined(PTIO_TEST_ASAN)
        std::ifstream statm("/proc/self/statm");
        std::uint64_t pages = 0;
        if (statm >> pages && getrlimit(RLIMIT_AS, &old_) == 0) {
            rlimit cap = old_;
            cap.rlim_cur = pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) + extra_bytes;
            if (old_.rlim_max != RLIM_INFINITY && cap.rlim_cur > old_.rlim_max) cap.rlim_cur = old_.rlim_max;
            active_ = setrlimit(RLIMIT_AS, &cap) == 0;
        }
#else
        (void)extra_bytes;
#endif
    }
    ~memory_cap() {
#if defined(__linux__) && !defined(PTIO_TEST_ASAN)
        if (active_) setrlimit(RLIMIT_AS, &old_);
#endif
    }
    memory_cap(const memory_cap&) = delete;
    memory_cap& operator=(const memory_cap&) = delete;

    // False when nothing would stop a runaway allocation (ASan without an RSS limit).
    static bool usable() {
#if defined(PTIO_TEST_ASAN)
        const char* opts = std::getenv("ASAN_OPTIONS");
        return opts != nullptr && std::string(opts).find("hard_rss_limit_mb") != std::string::npos;
#else
        return true;
#endif
    }

private:
#if defined(__linux__) && !defined(PTIO_TEST_ASAN)
    rlimit old_{};
    bool active_ = false;
#endif
};

}  // namespace

TEST_CASE("malformed: cyclic object graphs neither hang nor crash") {
    // A list containing itself, a dict containing itself: torch loads both. ptio may open them
    // (listing each tensor a finite number of times) or refuse them with a ptio::error.
    for (const char* name : {"cycle_list.pt", "cycle_dict.pt"}) {
        INFO("file: " << std::string(name));
        const outcome o = attempt([&] { return ptio::checkpoint::open(at(name)); });
        INFO("got: " << describe(o));
        CHECK(o.what_happened != outcome::kind::other_exception);
        if (o.what_happened == outcome::kind::opened) CHECK(o.tensors >= 1);
    }
}

TEST_CASE("malformed: a cyclic object graph is written back as a cycle, not refused as depth") {
    // What `ptio cp` does with a loaded root: tree::from keeps the inner occurrence as a
    // reference back (not the nesting cap's "more than 1000 levels"), and save writes it with
    // the memo, so the copy reopens with the container inside itself, one node.
    const struct {
        const char* file;
        bool list;  // root[1] is the root; else root["self"]
    } cases[] = {{"cycle_list.pt", true}, {"cycle_dict.pt", false}};
    for (const auto& c : cases) {
        INFO("file: " << std::string(c.file));
        const auto ck = ptio::checkpoint::open(at(c.file));
        const ptio::tree t = ptio::tree::from(ck.root());
        std::vector<std::byte> bytes = ptio::save(t);
        const auto back = ptio::checkpoint::open(std::move(bytes), {}, "copy of " + std::string(c.file));
        const ptio::value& root = back.root();
        const ptio::value* inner = nullptr;
        if (c.list) {
            REQUIRE(root.is(ptio::kind::list));
            REQUIRE(root.items().size() >= 2);
            inner = &root.items()[1];
        } else {
            REQUIRE(root.is(ptio::kind::dict));
            inner = root.get("self");
            REQUIRE(inner != nullptr);
        }
        CHECK(inner->identity() == root.identity());
        CHECK(back.tensors().size() == ck.tensors().size());
    }
}

TEST_CASE("malformed: exponential sharing of one tensor does not explode") {
    // 40 levels of (T, T) tuples through the memo: the value tree is small, but 2^40 paths
    // lead to the one tensor. Listing a tensor under every path cannot be materialised, so
    // open must either stop at a cap (limit_exceeded) or list shared containers a bounded
    // number of times; it must not exhaust memory or time.
    const outcome o = attempt([&] { return ptio::checkpoint::open(at("exponential.pt")); });
    INFO("got: " << describe(o));
    if (o.what_happened == outcome::kind::ptio_error) {
        CHECK(o.code == ptio::errc::limit_exceeded);
    } else {
        REQUIRE(o.what_happened == outcome::kind::opened);
        CHECK(o.tensors >= 1);
        CHECK(o.tensors <= (std::size_t{1} << 20));
    }
}

TEST_CASE("malformed: a dict key nested 100000 deep") {
    // The key is part of the tensor's name; making its text must not recurse without bound.
    const outcome o = attempt([&] { return ptio::checkpoint::open(at("deep_dict_key.pt")); });
    expect_error(o, ptio::errc::limit_exceeded);
}

TEST_CASE("malformed: a dict key whose text would have 2^40 parts") {
    // A 40-level DAG of 2-tuples is a tiny tree but a huge repr; naming the tensor under it
    // must stop at a cap.
    if (!memory_cap::usable()) {
        MESSAGE("skipped: AddressSanitizer build without ASAN_OPTIONS=hard_rss_limit_mb");
        return;
    }
    outcome o;
    {
        const memory_cap cap(std::uint64_t{4} << 30);
        o = attempt([&] { return ptio::checkpoint::open(at("exponential_dict_key.pt")); });
    }
    INFO("got: " << describe(o));
    if (o.what_happened == outcome::kind::ptio_error) {
        CHECK(o.code == ptio::errc::limit_exceeded);
    } else {
        CHECK(o.what_happened == outcome::kind::opened);  // e.g. a shortened name
    }
}

TEST_CASE("malformed: _rebuild_from_type_v2 nested in itself") {
    SUBCASE("3 deep, as torch loads it") {
        const outcome o = attempt([&] { return ptio::checkpoint::open(at("from_type_chain_3.pt")); });
        INFO("got: " << describe(o));
        REQUIRE(o.what_happened == outcome::kind::opened);
        const auto ck = ptio::checkpoint::open(at("from_type_chain_3.pt"));
        REQUIRE(ck.tensors().size() == 1);
        const auto shape = ck.tensors()[0].tensor->shape();
        CHECK(std::vector<std::int64_t>(shape.begin(), shape.end()) == std::vector<std::int64_t>{2, 3});
    }
    SUBCASE("100000 deep: a cap, not a stack overflow") {
        const outcome o =
            attempt([&] { return ptio::checkpoint::open(at("from_type_chain_deep.pt")); });
        expect_error(o, ptio::errc::limit_exceeded);
    }
}
