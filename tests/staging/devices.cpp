// Which device each storage goes to: the map_location forms on cuda_tags.pt (storages saved
// as cuda:1, cuda:0 and cpu), saved tags with no device here, and CUDA destinations on a
// machine without a GPU (tests/staging/cuda/ covers the machine with one).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <ptio/ptio.hpp>

#include "support/staging_support.hpp"
#include "support/zip_builder.hpp"

namespace {

using namespace ptio_test;
namespace fs = std::filesystem;

// A file whose storages' location tag is `tag` instead of "cpu": a float32 [2, 3] tensor "w".
std::vector<std::byte> tagged_checkpoint(std::string_view tag) {
    std::string pickle = ptio_test::tensor_dict_pickle("w", 6, 0, {2, 3}, {3, 1});
    const std::string cpu("X\x03\0\0\0cpu", 8);
    const auto at = pickle.find(cpu);
    REQUIRE(at != std::string::npos);
    std::string replacement("X");
    for (int i = 0; i < 4; ++i) replacement += static_cast<char>(tag.size() >> (8 * i));
    replacement += tag;
    pickle.replace(at, cpu.size(), replacement);
    std::string data(24, '\0');
    for (int i = 0; i < 6; ++i) {
        const float x = static_cast<float>(i) + 0.5F;
        std::memcpy(data.data() + 4 * i, &x, 4);
    }
    ptio_test::zip_builder z;
    z.add("archive/data.pkl", pickle);
    z.add("archive/data/0", data);
    z.add("archive/version", "3\n");
    return z.finish();
}

}  // namespace

TEST_CASE("staging: storages saved on cuda:1, cuda:0 and cpu") {
    // make_fixtures.py's CUDA_TAGS: w1 (and views w1_t, w1_row) and w1b on cuda:1, w0 on
    // cuda:0, c on cpu.
    const fs::path file = fixture("cuda_tags.pt");
    const ptio::checkpoint ref = ptio::checkpoint::open(file);
    const std::string w0_key(ref.at("w0").view().storage_key());
    const std::string w1_key(ref.at("w1").view().storage_key());
    auto check_bytes = [&](const ptio::loaded& l) {
        for (const ptio::named_tensor& nt : ref.tensors()) {
            INFO("tensor '", nt.name, "'");
            const ptio::device_tensor& t = l.at(nt.name);
            if (t.device().is_meta()) continue;
            CHECK(same_bytes(host_copy(t), nt.tensor->view().storage_bytes()));
            CHECK(t.source().location() == nt.tensor->location());
        }
    };

    SUBCASE("no map_location: each tag restores to its own device") {
        if (ptio::cuda_device_count() == 0) {
            for (auto placement : {ptio::cpu_placement::view, ptio::cpu_placement::copy}) {
                ptio::load_options o;
                o.cpu = placement;
                const std::string what = message_of([&] { (void)ptio::load(file, {}, o); });
                INFO("message: ", what);
                CHECK(code_of([&] { (void)ptio::load(file, {}, o); }) ==
                      ptio::errc::cuda_unavailable);
                CHECK(what.find("map_location") != std::string::npos);
                CHECK(what.find(file.string()) != std::string::npos);
                // The first storage in pickle order is w1's (cuda:1).
                CHECK(what.find("storage '" + w1_key + "'") != std::string::npos);
                CHECK(what.find("cuda:1") != std::string::npos);
            }
        }
    }
    SUBCASE("a dict sends both CUDA tags to the CPU") {
        const ptio::loaded l =
            ptio::load(file, ptio::map_location::tag_map{{"cuda:1", "cpu"}, {"cuda:0", "cpu"}});
        for (const ptio::named_device_tensor& nt : l.tensors())
            CHECK(nt.tensor->device() == ptio::device::cpu());
        check_bytes(l);
        const auto rows = l.summary();
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].storages == 4);
        CHECK(rows[0].tensors == 6);
    }
    SUBCASE("a dict without cuda:0 leaves w0 on cuda:0") {
        const ptio::map_location only1(ptio::map_location::tag_map{{"cuda:1", "cpu"}});
        if (ptio::cuda_device_count() == 0) {
            const std::string what = message_of([&] { (void)ptio::load(file, only1); });
            INFO("message: ", what);
            CHECK(code_of([&] { (void)ptio::load(file, only1); }) == ptio::errc::cuda_unavailable);
            CHECK(what.find("storage '" + w0_key + "'") != std::string::npos);
            CHECK(what.find("map_location") != std::string::npos);
        }
    }
    SUBCASE("a string or a device sends everything to one place") {
        for (const ptio::map_location& where :
             {ptio::map_location("cpu"), ptio::map_location(ptio::device::cpu())}) {
            const ptio::loaded l = ptio::load(file, where);
            for (const ptio::named_device_tensor& nt : l.tensors())
                CHECK(nt.tensor->device() == ptio::device::cpu());
            check_bytes(l);
        }
    }
    SUBCASE("a callable decides per storage") {
        std::vector<std::string> calls;
        const ptio::map_location where(ptio::map_location::callable(
            [&](const ptio::storage_info& s,
                std::string_view tag) -> std::optional<ptio::device> {
                calls.push_back(std::string(s.key) + "|" + std::to_string(s.nbytes) + "|" +
                                std::string(ptio::name(s.dtype)) + "|" + std::string(tag));
                if (tag == "cuda:1") return ptio::device::cpu();
                if (tag == "cuda:0") return ptio::device::meta();
                return std::nullopt;  // "cpu": the default rule
            }));
        ptio::load_options o;
        o.cpu = ptio::cpu_placement::copy;
        const ptio::loaded l = ptio::load(file, where, o);
        // One call per storage, in the order tensors first reach it, with what the file says.
        std::vector<std::string> expected;
        std::set<std::string> keys;
        for (const ptio::named_tensor& nt : ref.tensors()) {
            const ptio::tensor_view& v = nt.tensor->view();
            if (!keys.insert(std::string(v.storage_key())).second) continue;
            expected.push_back(std::string(v.storage_key()) + "|" +
                               std::to_string(v.storage_bytes().size()) + "|" +
                               std::string(ptio::name(v.dtype())) + "|" + nt.tensor->location());
        }
        CHECK(calls == expected);
        for (const char* name : {"w1", "w1_t", "w1_row", "w1b", "c"})
            CHECK(l.at(name).device() == ptio::device::cpu());
        CHECK(l.at("w0").device() == ptio::device::meta());
        CHECK(l.at("w0").data() == nullptr);
        check_bytes(l);
        const auto rows = l.summary();
        REQUIRE(rows.size() == 2);
        CHECK(rows[0].device == ptio::device::cpu());
        CHECK(rows[0].tensors == 5);
        CHECK(rows[0].storages == 3);
        CHECK(rows[0].allocations == 1);
        CHECK(rows[1].device == ptio::device::meta());
        CHECK(rows[1].tensors == 1);
        CHECK(rows[1].storages == 1);
        CHECK(rows[1].bytes == 0);
        const std::uint64_t w0_bytes = ref.at("w0").view().storage_bytes().size();
        std::uint64_t all = 0;
        for (const auto& [key, n] : table_of(ref).nbytes) all += n;
        CHECK(l.bytes_to_move() == all - w0_bytes);
        CHECK(rows[0].bytes == all - w0_bytes);
    }
}

TEST_CASE("staging: a saved tag with no device here is unknown_location") {
    for (std::string_view tag : {"mps", "xpu:0"}) {
        INFO("tag ", std::string(tag));
        const std::vector<std::byte> bytes = tagged_checkpoint(tag);
        const std::string what = message_of([&] { (void)ptio::load(std::vector(bytes)); });
        CHECK(what.find(tag) != std::string::npos);
        CHECK(what.find("<memory>") != std::string::npos);
        CHECK(code_of([&] { (void)ptio::load(std::vector(bytes)); }) ==
              ptio::errc::unknown_location);
        // A map_location that names a device loads it.
        const ptio::loaded l = ptio::load(std::vector(bytes), "cpu", {}, "tagged.pt");
        CHECK(l.source().file() == "tagged.pt");
        CHECK(l.at("w").source().location() == tag);
        CHECK(l.at("w").source().view().at<float>({1, 2}) == 5.5F);
        const ptio::loaded mapped =
            ptio::load(std::vector(bytes), ptio::map_location::tag_map{{std::string(tag), "meta"}});
        CHECK(mapped.at("w").device() == ptio::device::meta());
    }
}
TEST_CASE("staging: CUDA destinations without a GPU are cuda_unavailable") {
    if (ptio::cuda_device_count() > 0) return;  // tests/staging/cuda/ covers the other case
    ptio::stager s(ptio::stager_options{.chunk_bytes = 4096, .chunks = 2});
    for (const char* where : {"cuda", "cuda:0", "cuda:1"})
        for (bool wait : {true, false}) {
            INFO(std::string(where), std::string(wait ? " wait" : " no wait"));
            ptio::load_options o;
            o.wait = wait;
            o.staging = &s;
            const std::string what = message_of([&] { (void)ptio::load(fixture("big.pt"), where, o); });
            CHECK(what.find("map_location") != std::string::npos);
            CHECK(code_of([&] { (void)ptio::load(fixture("big.pt"), where, o); }) ==
                  ptio::errc::cuda_unavailable);
        }
    CHECK(s.pinned_bytes() == 0);
}
