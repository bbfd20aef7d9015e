// Broken files: each must fail with its errc and a message naming the file and the place.
//
// tests/malformed/make_malformed.py writes the files and PTIO_MALFORMED_DIR/cases.tsv (one row
// per file: name, errc, substring, description; see the script's docstring). A row passes when
// opening the file, then reading the bytes of every tensor, throws ptio::error with that code,
// and what() contains the path and the substring. Errors found lazily (a storage's local
// header, a deflated storage) count as long as they come before every tensor has been read.
//
// Set PTIO_MALFORMED_CASE=<file name> to run only that row (e.g. under a debugger).
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"
#include "ptio/tensor.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path malformed_dir{PTIO_MALFORMED_DIR};

struct row {
    std::string file;
    std::string errc;
    std::string substring;
    std::string description;
};

std::vector<row> read_cases() {
    std::ifstream in(malformed_dir / "cases.tsv");
    REQUIRE_MESSAGE(in.good(), "no cases.tsv in " << malformed_dir.string()
                                                  << " (run the fixtures.malformed test first)");
    std::vector<row> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> fields;
        std::size_t start = 0;
        for (;;) {
            const auto tab = line.find('\t', start);
            fields.push_back(line.substr(start, tab - start));
            if (tab == std::string::npos) break;
            start = tab + 1;
        }
        REQUIRE_MESSAGE(fields.size() == 4, "bad cases.tsv line: " << line);
        rows.push_back({fields[0], fields[1], fields[2], fields[3]});
    }
    return rows;
}

bool selected(const row& r) {
    const char* only = std::getenv("PTIO_MALFORMED_CASE");
    return only == nullptr || *only == '\0' || r.file == only;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Case-insensitive; `alternatives` is a|b|c (any one suffices); empty always matches.
bool contains_any(const std::string& text, const std::string& alternatives) {
    if (alternatives.empty()) return true;
    const std::string t = lower(text);
    std::size_t start = 0;
    for (;;) {
        const auto bar = alternatives.find('|', start);
        const std::string alt = lower(alternatives.substr(start, bar - start));
        if (!alt.empty() && t.find(alt) != std::string::npos) return true;
        if (bar == std::string::npos) return false;
        start = bar + 1;
    }
}

std::set<std::string> errc_names() {
    std::set<std::string> names;
    for (int i = 0; i <= static_cast<int>(ptio::errc::cancelled); ++i)
        names.insert(std::string(ptio::to_string(static_cast<ptio::errc>(i))));
    return names;
}

std::vector<std::byte> slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in.good());
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> bytes(chars.size());
    std::transform(chars.begin(), chars.end(), bytes.begin(),
                   [](char c) { return static_cast<std::byte>(c); });
    return bytes;
}

// Read every byte of every tensor's storage, so that lazily located records (local headers,
// deflated storages, CRCs under verify_crc) are checked, and copy out each small view. Returns
// a checksum so nothing is optimised away.
std::uint64_t touch(const ptio::checkpoint& ck) {
    std::uint64_t sum = 0;
    for (const auto& nt : ck.tensors()) {
        const auto& v = nt.tensor->view();
        sum += nt.name.size() + v.nbytes();
        if (!v.has_data()) continue;
        for (const std::byte b : v.storage_bytes()) sum += std::to_integer<unsigned>(b);
        sum += reinterpret_cast<std::uintptr_t>(v.data()) & 1U;
        if (v.nbytes() <= (std::uint64_t{1} << 20))
            for (const std::byte b : v.to_contiguous()) sum += std::to_integer<unsigned>(b);
    }
    for (const auto& nt : ck.state_dict()) sum += nt.name.size();  // the second naming walk
    return sum;
}

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

// What happened when a file was opened and read.
struct outcome {
    enum class kind { opened, ptio_error, other_exception } what_happened = kind::opened;
    ptio::errc code{};
    std::string message;
    std::string file;  // error::file()
    std::size_t tensors = 0;
};

template <class Open>
outcome attempt(Open&& open_fn) {
    outcome o;
    try {
        const ptio::checkpoint ck = open_fn();
        (void)touch(ck);
        o.tensors = ck.tensors().size();
    } catch (const ptio::error& e) {
        o.what_happened = outcome::kind::ptio_error;
        o.code = e.code();
        o.message = e.what();
        o.file = e.file();
    } catch (const std::exception& e) {
        o.what_happened = outcome::kind::other_exception;
        o.message = e.what();
    } catch (...) {
        o.what_happened = outcome::kind::other_exception;
        o.message = "(not a std::exception)";
    }
    return o;
}

std::string describe(const outcome& o) {
    switch (o.what_happened) {
    case outcome::kind::opened:
        return "opened without error (" + std::to_string(o.tensors) + " tensors)";
    case outcome::kind::ptio_error:
        return "ptio::error " + std::string(ptio::to_string(o.code)) + ": " + o.message;
    case outcome::kind::other_exception:
        return "a foreign exception: " + o.message;
    }
    return "?";
}

// The checks shared by the path and the memory variants. `shown` is what messages must name.
void check_row(const row& r, const outcome& o, const std::string& shown) {
    INFO("case: " << r.file << " (" << r.description << ")");
    INFO("expected: " << r.errc << ", message containing '" << shown << "' and '" << r.substring
                      << "'");
    INFO("got: " << describe(o));
    if (r.errc == "any") {
        CHECK(o.what_happened != outcome::kind::other_exception);
        return;
    }
    CHECK(o.what_happened == outcome::kind::ptio_error);
    if (o.what_happened != outcome::kind::ptio_error) return;
    CHECK(std::string(ptio::to_string(o.code)) == r.errc);
    CHECK(o.message.find(shown) != std::string::npos);
    CHECK(o.file == shown);
    CHECK(contains_any(o.message, r.substring));
}

fs::path at(const char* name) { return malformed_dir / name; }

void expect_error(const outcome& o, ptio::errc code) {
    INFO("got: " << describe(o));
    REQUIRE(o.what_happened == outcome::kind::ptio_error);
    CHECK(std::string(ptio::to_string(o.code)) == std::string(ptio::to_string(code)));
}

}  // namespace

TEST_CASE("malformed: the table of cases is sound") {
    const auto rows = read_cases();
    CHECK(rows.size() >= 100);
    const auto names = errc_names();
    std::set<std::string> files;
    for (const auto& r : rows) {
        INFO("case: " << r.file);
        CHECK((names.count(r.errc) == 1 || r.errc == "any"));
        CHECK(files.insert(r.file).second);
        CHECK(fs::is_regular_file(malformed_dir / r.file));
    }
}

TEST_CASE("malformed: every broken file raises its errc (opened by path)") {
    for (const auto& r : read_cases()) {
        if (!selected(r)) continue;
        const fs::path p = malformed_dir / r.file;
        const outcome o = attempt([&] { return ptio::checkpoint::open(p); });
        check_row(r, o, p.string());
    }
}

TEST_CASE("malformed: every broken file raises its errc (opened from memory)") {
    for (const auto& r : read_cases()) {
        if (!selected(r)) continue;
        const std::vector<std::byte> bytes = slurp(malformed_dir / r.file);
        const std::string name = "memory:" + r.file;
        const outcome o = attempt([&] {
            return ptio::checkpoint::open(std::span<const std::byte>(bytes), ptio::open_options{},
                                          name);
        });
        check_row(r, o, name);
    }
}

TEST_CASE("malformed: the valid bases open and read back") {
    // Every broken file differs from one of these in one place; they must load.
    for (const char* name :
         {"valid_torch.pt", "valid_handmade.pt", "valid_deflated.pt", "valid_deflated_all.pt"}) {
        INFO("file: " << std::string(name));
        const fs::path p = at(name);
        const outcome o = attempt([&] { return ptio::checkpoint::open(p); });
        INFO("got: " << describe(o));
        REQUIRE(o.what_happened == outcome::kind::opened);
        const auto ck = ptio::checkpoint::open(p, ptio::open_options{.verify_crc = true});
        REQUIRE(ck.tensors().size() == 2);
        CHECK(ck.tensors()[0].name == "w");
        CHECK(ck.tensors()[1].name == "b");
        CHECK(ck.at("w").view().at<float>({1, 2}) == 5.0F);
        CHECK(ck.at("b").view().at<std::int64_t>({2}) == 1);
        // Deflated storages are inflated into ptio's memory; stored ones are the mapping.
        CHECK(ck.at("w").view().is_copy() == (std::string(name) == "valid_deflated_all.pt"));
        std::size_t calls = 0;
        CHECK(ck.verify([&](const ptio::error&) { ++calls; }) == 0);
        CHECK(calls == 0);
    }
}

TEST_CASE("malformed: a flipped storage byte is found only when CRCs are checked") {
    const fs::path p = at("crc_payload.pt");

    // torch does not check CRCs and neither does ptio by default.
    const outcome plain = attempt([&] { return ptio::checkpoint::open(p); });
    INFO("default open: " << describe(plain));
    CHECK(plain.what_happened == outcome::kind::opened);

    // With verify_crc, reading the damaged storage throws.
    const outcome checked = attempt(
        [&] { return ptio::checkpoint::open(p, ptio::open_options{.verify_crc = true}); });
    expect_error(checked, ptio::errc::crc_mismatch);
    CHECK(checked.message.find(p.string()) != std::string::npos);
    CHECK(contains_any(checked.message, "data/0"));

    // verify() reports it through the callback and does not throw.
    if (plain.what_happened == outcome::kind::opened) {
        const auto ck = ptio::checkpoint::open(p);
        std::vector<ptio::errc> codes;
        std::vector<std::string> messages;
        std::size_t found = 0;
        CHECK_NOTHROW(found = ck.verify([&](const ptio::error& problem) {
            codes.push_back(problem.code());
            messages.emplace_back(problem.what());
        }));
        CHECK(found == 1);
        REQUIRE(codes.size() == 1);
        CHECK(codes[0] == ptio::errc::crc_mismatch);
        CHECK(contains_any(messages[0], "data/0"));
        CHECK(messages[0].find(p.string()) != std::string::npos);
    }
}

TEST_CASE("malformed: a changed data.pkl byte fails open when CRCs are checked") {
    const fs::path p = at("crc_datapkl.pt");
    const outcome plain = attempt([&] { return ptio::checkpoint::open(p); });
    INFO("default open: " << describe(plain));
    REQUIRE(plain.what_happened == outcome::kind::opened);
    {
        const auto ck = ptio::checkpoint::open(p);
        CHECK(ck.find("x") != nullptr);  // the key 'w' was changed to 'x'
        std::vector<ptio::errc> codes;
        CHECK(ck.verify([&](const ptio::error& problem) { codes.push_back(problem.code()); }) == 1);
        CHECK(codes == std::vector<ptio::errc>{ptio::errc::crc_mismatch});
    }
    const outcome checked = attempt(
        [&] { return ptio::checkpoint::open(p, ptio::open_options{.verify_crc = true}); });
    expect_error(checked, ptio::errc::crc_mismatch);
    CHECK(contains_any(checked.message, "data.pkl"));
}

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

TEST_CASE("malformed: paths and empty inputs") {
    SUBCASE("a directory") {
        const outcome o = attempt([&] { return ptio::checkpoint::open(malformed_dir); });
        expect_error(o, ptio::errc::io_error);
        CHECK(o.message.find(malformed_dir.string()) != std::string::npos);
    }
    SUBCASE("a path that does not exist") {
        const fs::path p = malformed_dir / "no such file.pt";
        const outcome o = attempt([&] { return ptio::checkpoint::open(p); });
        expect_error(o, ptio::errc::io_error);
        CHECK(o.message.find(p.string()) != std::string::npos);
    }
    SUBCASE("an empty byte span") {
        const outcome o = attempt([&] {
            return ptio::checkpoint::open(std::span<const std::byte>{}, ptio::open_options{},
                                          "empty-span");
        });
        expect_error(o, ptio::errc::not_a_checkpoint);
        CHECK(o.message.find("empty-span") != std::string::npos);
    }
    SUBCASE("an empty owned buffer") {
        const outcome o = attempt([&] {
            return ptio::checkpoint::open(std::vector<std::byte>{}, ptio::open_options{},
                                          "empty-vector");
        });
        expect_error(o, ptio::errc::not_a_checkpoint);
        CHECK(o.message.find("empty-vector") != std::string::npos);
    }
    SUBCASE("an empty file") {
        const fs::path p = at("empty.pt");
        const outcome o = attempt([&] { return ptio::checkpoint::open(p); });
        expect_error(o, ptio::errc::not_a_checkpoint);
    }
}

TEST_CASE("malformed: messages have the documented form") {
    // "<file>: <record>: at offset <n>: <detail>", and the parts are also in the accessors.
    SUBCASE("a record-level zip error names the record and an offset") {
        const fs::path p = at("lho_past_end.pt");
        try {
            const auto ck = ptio::checkpoint::open(p);
            (void)touch(ck);
            FAIL("lho_past_end.pt opened");
        } catch (const ptio::error& e) {
            INFO("what(): " << std::string(e.what()));
            CHECK(std::string(e.what()).rfind(p.string() + ": ", 0) == 0);
            CHECK(e.file() == p.string());
            CHECK(contains_any(e.record(), "data/0"));
            CHECK(e.offset().has_value());
            CHECK(std::string(e.what()).find("at offset ") != std::string::npos);
        }
    }
    SUBCASE("a pickle error names data.pkl and the opcode's offset") {
        const fs::path p = at("pickle_unknown_opcode.pt");
        try {
            const auto ck = ptio::checkpoint::open(p);
            FAIL("pickle_unknown_opcode.pt opened");
        } catch (const ptio::error& e) {
            INFO("what(): " << std::string(e.what()));
            CHECK(e.code() == ptio::errc::unknown_opcode);
            CHECK(contains_any(e.record(), "data.pkl"));
            REQUIRE(e.offset().has_value());
            // PROTO 2 takes bytes 0-1 of data.pkl, so 0xFF is at offset 2 of the record; its
            // payload starts at byte 46 of the file (30 + "archive/data.pkl", no extra field).
            CHECK((*e.offset() == 2 || *e.offset() == 48));
        }
    }
}
