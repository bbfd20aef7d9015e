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

#include <cstddef>
#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "checkpoint/malformed_support.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"
#include "ptio/tensor.hpp"

using namespace malformed_support;

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
