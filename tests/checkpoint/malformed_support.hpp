// malformed_support — what the tests on broken files share: the table of cases that
// tests/malformed/make_malformed.py writes (PTIO_MALFORMED_DIR/cases.tsv), opening a file and
// reading every tensor's bytes into an outcome (opened, ptio::error, or a foreign exception),
// and the checks of an outcome against its row. Test code only.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"
#include "ptio/tensor.hpp"

namespace malformed_support {

namespace fs = std::filesystem;

inline const fs::path malformed_dir{PTIO_MALFORMED_DIR};

struct row {
    std::string file;
    std::string errc;
    std::string substring;
    std::string description;
};

inline std::vector<row> read_cases() {
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

inline bool selected(const row& r) {
    const char* only = std::getenv("PTIO_MALFORMED_CASE");
    return only == nullptr || *only == '\0' || r.file == only;
}

inline std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Case-insensitive; `alternatives` is a|b|c (any one suffices); empty always matches.
inline bool contains_any(const std::string& text, const std::string& alternatives) {
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

inline std::set<std::string> errc_names() {
    std::set<std::string> names;
    for (int i = 0; i <= static_cast<int>(ptio::errc::cancelled); ++i)
        names.insert(std::string(ptio::to_string(static_cast<ptio::errc>(i))));
    return names;
}

inline std::vector<std::byte> slurp(const fs::path& p) {
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
inline std::uint64_t touch(const ptio::checkpoint& ck) {
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

inline std::string describe(const outcome& o) {
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
inline void check_row(const row& r, const outcome& o, const std::string& shown) {
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

inline fs::path at(const char* name) { return malformed_dir / name; }

inline void expect_error(const outcome& o, ptio::errc code) {
    INFO("got: " << describe(o));
    REQUIRE(o.what_happened == outcome::kind::ptio_error);
    CHECK(std::string(ptio::to_string(o.code)) == std::string(ptio::to_string(code)));
}

}  // namespace malformed_support
