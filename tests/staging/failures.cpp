// Broken files must fail ptio::load with their errc and free everything (run under ASan too):
// a storage whose local header is corrupt, and every row of the malformed table
// (tests/malformed/make_malformed.py).
#include <doctest/doctest.h>

#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <ptio/ptio.hpp>

#include "support/staging_support.hpp"

namespace {

using namespace ptio_test;
namespace fs = std::filesystem;

struct malformed_row {
    std::string file, errc;
};

std::vector<malformed_row> malformed_rows() {
    std::ifstream in(fs::path(PTIO_MALFORMED_DIR) / "cases.tsv");
    REQUIRE_MESSAGE(in.good(), "run the fixtures.malformed test first");
    std::vector<malformed_row> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto tab1 = line.find('\t');
        const auto tab2 = line.find('\t', tab1 + 1);
        REQUIRE(tab2 != std::string::npos);
        rows.push_back({line.substr(0, tab1), line.substr(tab1 + 1, tab2 - tab1 - 1)});
    }
    return rows;
}

}  // namespace

TEST_CASE("staging: a storage whose local header is corrupt fails the load") {
    const std::vector<std::byte> bytes = corrupt_local_header_checkpoint();
    // Open alone succeeds: the record is located when its bytes are first needed.
    const ptio::checkpoint ck = ptio::checkpoint::open(std::vector(bytes), {}, "bad.pt");
    REQUIRE(ck.tensors().size() == 2);

    const fs::path path = fs::temp_directory_path() /
                          ("ptio_staging_bad_local_header_" + std::to_string(::getpid()) + ".pt");
    write_file(path, bytes);
    for (auto placement : {ptio::cpu_placement::view, ptio::cpu_placement::copy}) {
        for (bool wait : {true, false}) {
            for (auto read : {ptio::file_read::pread, ptio::file_read::mmap}) {
                INFO("placement ", std::string(placement_name(placement)),
                     std::string(wait ? ", wait" : ", no wait"),
                     std::string(read == ptio::file_read::pread ? ", pread" : ", mmap"));
                ptio::load_options o;
                o.cpu = placement;
                o.wait = wait;
                o.read = read;
                // From memory and from the file: bad_zip naming the file and the record.
                auto load_and_wait = [&](auto&& make) {
                    const ptio::loaded l = make();
                    l.wait();  // with wait=false the error comes here
                };
                try {
                    load_and_wait([&] { return ptio::load(std::vector(bytes), "cpu", o, "bad.pt"); });
                    FAIL("no error");
                } catch (const ptio::error& e) {
                    CHECK(e.code() == ptio::errc::bad_zip);
                    CHECK(std::string(e.what()).find("bad.pt") != std::string::npos);
                    CHECK(std::string(e.what()).find("data/1") != std::string::npos);
                }
                CHECK(code_of([&] { load_and_wait([&] { return ptio::load(path, "cpu", o); }); }) ==
                      ptio::errc::bad_zip);
            }
        }
    }
    // With wait=false the error reaches the broken tensor's wait() and loaded::wait().
    ptio::load_options o;
    o.cpu = ptio::cpu_placement::copy;
    o.wait = false;
    o.threads = 1;
    const ptio::loaded l = ptio::load(std::vector(bytes), "cpu", o, "bad.pt");
    CHECK(code_of([&] { l.at("b").wait(); }) == ptio::errc::bad_zip);
    CHECK(code_of([&] { l.wait(); }) == ptio::errc::bad_zip);
    CHECK_FALSE(l.ready());
    // Meta reads no byte: the broken record does not matter.
    const ptio::loaded meta = ptio::load(std::vector(bytes), "meta");
    CHECK(meta.at("b").device() == ptio::device::meta());
    fs::remove(path);
}

TEST_CASE("staging: every malformed file fails load() with its errc") {
    // The table tests/checkpoint/malformed.cpp checks with open-and-read: load with CPU copies reads every
    // storage byte, so it must fail the same way (rows marked "any" may load or fail).
    const auto rows = malformed_rows();
    REQUIRE(rows.size() >= 100);
    for (const malformed_row& r : rows) {
        INFO("case ", r.file, ": expected ", r.errc);
        const fs::path p = fs::path(PTIO_MALFORMED_DIR) / r.file;
        for (auto read : {ptio::file_read::pread, ptio::file_read::mmap}) {
            ptio::load_options o;
            o.cpu = ptio::cpu_placement::copy;
            o.read = read;
            try {
                const ptio::loaded l = ptio::load(p, "cpu", o);
                CHECK(r.errc == "any");
            } catch (const ptio::error& e) {
                INFO("message: ", e.what());
                if (r.errc != "any") CHECK(std::string(ptio::to_string(e.code())) == r.errc);
            } catch (const std::exception& e) {
                FAIL("a foreign exception: " << e.what());
            }
        }
    }
}
