// The caps on what a file may cost (ptio::limits' node and metadata caps, each naming the
// field that raises it) and copies that could never fit in memory, on hand-made archives.
// The hostile files themselves are rows of the malformed table (tests/malformed/
// mal_caps_cases.py); these check the caps' words and that each field is the one obeyed.
#include <doctest/doctest.h>

#include <string>

#include <ptio/ptio.hpp>

#include "support/zip_builder.hpp"

namespace {

const std::vector<std::byte>& small_checkpoint() {
    static const auto bytes = ptio_test::float_checkpoint("w", 6, 0, {2, 3}, {3, 1}, std::string(24, '\0'));
    return bytes;
}

std::string refusal(const ptio::limits& caps) {
    try {
        (void)ptio::checkpoint::open(small_checkpoint(), ptio::open_options{.caps = caps}, "small.pt");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::limit_exceeded);
        CHECK(e.file() == "small.pt");
        CHECK(e.record() == "archive/data.pkl");
        CHECK(e.offset().has_value());
        return e.what();
    }
    FAIL("it opened");
    return {};
}

}  // namespace

TEST_CASE("caps: the default caps open a small checkpoint") {
    const auto ck = ptio::checkpoint::open(small_checkpoint(), {}, "small.pt");
    CHECK(ck.tensors().size() == 1);
}

TEST_CASE("caps: each cap is obeyed and names the field that raises it") {
    struct row {
        const char* what;
        ptio::limits caps;
        const char* says;
        const char* field;
    };
    ptio::limits few_nodes, relative, absolute;
    few_nodes.max_nodes = 3;
    relative.metadata_floor_bytes = 0;  // one byte of tree per byte of pickle
    relative.metadata_per_pickle_byte = 1;
    absolute.max_metadata_bytes = 1000;  // smaller than the relative cap
    for (const row& r : {row{"max_nodes", few_nodes, "cap of 3 values", "ptio::limits::max_nodes"},
                         row{"relative", relative, "metadata cap of",
                             "ptio::limits::metadata_per_pickle_byte"},
                         row{"absolute", absolute, "metadata cap of 1000 bytes",
                             "ptio::limits::max_metadata_bytes"}}) {
        INFO("cap: " << r.what);
        const auto why = refusal(r.caps);
        CHECK(why.find(r.says) != std::string::npos);
        CHECK(why.find(r.field) != std::string::npos);
    }
    // 0 turns the relative cap off (the absolute one still holds).
    ptio::limits off;
    off.metadata_floor_bytes = 0;
    off.metadata_per_pickle_byte = 0;
    CHECK(ptio::checkpoint::open(small_checkpoint(), ptio::open_options{.caps = off}, "small.pt")
              .tensors()
              .size() == 1);
}

TEST_CASE("caps: to_contiguous() of an expansion that could never fit memory is refused first") {
    // [2^20, 2^20] float32 with strides (0, 0) over one element: 4 TiB once copied.
    const auto bytes = ptio_test::float_checkpoint("w", 1, 0, {1U << 20, 1U << 20}, {0, 0}, std::string(4, '\0'));
    const auto ck = ptio::checkpoint::open(bytes, {}, "expanded.pt");
    const auto& view = ck.at("w").view();
    REQUIRE(view.nbytes() == std::uint64_t{1} << 42);
    try {
        (void)view.to_contiguous();
        FAIL("to_contiguous() returned");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::limit_exceeded);
        CHECK(std::string(e.what()).find("4398046511104 bytes") != std::string::npos);
        CHECK(std::string(e.what()).find("data/0") != std::string::npos);
    }
}
