// Opening files real torch wrote (tests/fixtures/make_fixtures.py): archive prefixes and
// records, opening the bytes from memory (owned or borrowed), the look-up functions, and
// every fixture opening, copying out and verifying cleanly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <ptio/ptio.hpp>

#include "checkpoint/fixture_support.hpp"
#include "support/names.hpp"

using namespace fixture_support;

TEST_CASE("fixtures: the archive prefix follows how torch.save was called") {
    const auto buffer = open_fixture("bytesio.pt");
    CHECK(buffer.prefix() == "archive");
    const auto named = open_fixture("my.model.pt");
    CHECK(named.prefix() == "my.model");
    CHECK(open_fixture("views.pt").prefix() == "views");

    for (const ptio::checkpoint* ck : {&buffer, &named}) {
        CHECK(ck->format() == "zip");
        CHECK(ck->byteorder() == "little");
        REQUIRE_FALSE(ck->records().empty());
        CHECK(ck->records().front().name == "data.pkl");
        const bool has_version =
            std::any_of(ck->records().begin(), ck->records().end(),
                        [](const ptio::record_info& r) { return r.name == "version"; });
        CHECK(has_version);
        for (const ptio::record_info& r : ck->records()) CHECK(r.method == 0);
        CHECK(summarize(*ck) == summarize(buffer));  // same object, saved two ways
    }
    CHECK(named.file() == fixture("my.model.pt").string());
}

TEST_CASE("fixtures: opening the bytes in memory gives the same tensors") {
    for (const char* file : {"views.pt", "dtypes.pt", "training.pt", "nested.pt",
                             "bare_tensor.pt", "my.model.pt"}) {
        INFO("file ", file);
        const auto from_file = open_fixture(file);
        const auto expected = summarize(from_file);

        std::vector<std::byte> bytes = read_bytes(fixture(file));
        const std::vector<std::byte> kept = bytes;
        const auto owned = ptio::checkpoint::open(std::move(bytes), {}, file);
        CHECK(owned.file() == file);
        CHECK(owned.prefix() == from_file.prefix());
        CHECK(summarize(owned) == expected);

        const auto borrowed = ptio::checkpoint::open(std::span<const std::byte>(kept));
        CHECK(summarize(borrowed) == expected);
        if (!borrowed.tensors().empty()) {
            const std::byte* data = borrowed.tensors()[0].tensor->view().storage_bytes().data();
            CHECK(data >= kept.data());
            CHECK(data < kept.data() + kept.size());  // a view into the caller's bytes
        }
    }
}

TEST_CASE("fixtures: find and at") {
    const auto ck = open_fixture("my.model.pt");
    const ptio::named_tensor* a = ck.find("a");
    REQUIRE(a != nullptr);
    CHECK(a->name == "a");
    CHECK(test_support::path_of(a->path) == std::vector<std::string>{"a"});
    CHECK(&ck.at("a") == a->tensor);
    CHECK(ck.find("b")->tensor->dtype() == ptio::dtype::int16);
    CHECK(ck.find("missing") == nullptr);
    CHECK(ck.find("") == nullptr);
    CHECK(ck.find("a.b") == nullptr);

    CHECK_THROWS_AS((void)ck.at("missing"), ptio::error);
    try {
        (void)ck.at("missing");
        FAIL("at() of a missing name did not throw");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::not_found);
        CHECK(std::string(e.what()).find("missing") != std::string::npos);
    }

    const auto nested = open_fixture("nested.pt");
    CHECK(nested.find("tensors.list.1.deep") != nullptr);
    CHECK(nested.find("7") != nullptr);
    CHECK(nested.find("tensors.list") == nullptr);  // a container, not a tensor
}

TEST_CASE("fixtures: every fixture opens and every tensor copies out") {
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(PTIO_FIXTURE_DIR)) {
        if (entry.path().extension() != ".pt") continue;
        INFO("file ", entry.path().string());
        const auto ck = ptio::checkpoint::open(entry.path());
        CHECK(ck.format() == "zip");
        for (const ptio::named_tensor& nt : ck.tensors()) {
            INFO("tensor ", nt.name);
            const ptio::tensor_view& v = nt.tensor->view();
            CHECK(v.to_contiguous().size() == v.nbytes());
            if (entry.path().filename() != "cuda_tags.pt")  // the one file saved with GPU tags
                CHECK(nt.tensor->location() == "cpu");
        }
        CHECK(ck.verify([](const ptio::error& e) { FAIL_CHECK(e.what()); }) == 0);
        ++files;
    }
    CHECK(files >= 17);
}
