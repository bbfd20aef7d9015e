// Where a load's bytes come from: bytes in memory, an already open checkpoint, and a sharded
// checkpoint whose storages lie in several files (tests/fixtures/make_sharded.py).
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <ptio/ptio.hpp>

#include "support/staging_support.hpp"

using namespace ptio_test;
namespace fs = std::filesystem;

TEST_CASE("staging: loads from bytes and from an open checkpoint") {
    const fs::path file = fixture("views.pt");
    const ptio::checkpoint ref = ptio::checkpoint::open(file);
    const ptio::loaded from_bytes = ptio::load(read_file(file), "cpu");
    CHECK(from_bytes.source().file() == "<memory>");
    ptio::load_options copy;
    copy.cpu = ptio::cpu_placement::copy;
    const ptio::loaded from_ck = ptio::load(ptio::checkpoint::open(file), "cpu", copy);
    for (const ptio::loaded* l : {&from_bytes, &from_ck}) {
        REQUIRE(l->tensors().size() == ref.tensors().size());
        for (std::size_t i = 0; i < ref.tensors().size(); ++i)
            CHECK(same_bytes(host_copy(*l->tensors()[i].tensor),
                             ref.tensors()[i].tensor->view().storage_bytes()));
        CHECK(&l->root() == &l->source().root());
    }
    // A view of bytes points into the buffer the loaded owns.
    CHECK(from_bytes.at("base").storage_data() ==
          from_bytes.source().at("base").view().storage_bytes().data());
}

TEST_CASE("staging: a sharded checkpoint loads each storage from its own shard's file") {
    // tests/fixtures/make_sharded.py: storage keys restart at "0" in every shard, so only the
    // storage identity tells them apart; the larger storages (>= 64 KiB) take the pread path.
    const fs::path index = fs::path(PTIO_SHARDED_DIR) / "hf" / "pytorch_model.bin.index.json";
    REQUIRE_MESSAGE(fs::exists(index), "run the fixtures.sharded test first");
    const ptio::checkpoint ref = ptio::checkpoint::open(index);
    std::set<const std::byte*> storages;
    std::uint64_t total = 0;
    bool pread_sized = false;
    for (const ptio::named_tensor& nt : ref.tensors()) {
        const auto bytes = nt.tensor->view().storage_bytes();
        if (storages.insert(bytes.data()).second) total += bytes.size();
        pread_sized = pread_sized || bytes.size() >= (64 << 10);
    }
    CHECK(pread_sized);
    ptio::stager tiny(ptio::stager_options{.chunk_bytes = 4096, .chunks = 2});
    for (auto placement : {ptio::cpu_placement::view, ptio::cpu_placement::copy_on_write,
                           ptio::cpu_placement::copy})
        for (auto read : {ptio::file_read::pread, ptio::file_read::mmap})
            for (ptio::stager* pool : {&tiny, static_cast<ptio::stager*>(nullptr)}) {
                INFO(std::string(placement_name(placement)),
                     std::string(read == ptio::file_read::pread ? ", pread" : ", mmap"),
                     pool ? ", 4 KiB chunks" : "");
                ptio::load_options o;
                o.cpu = placement;
                o.read = read;
                o.staging = pool;
                const ptio::loaded l = ptio::load(index, "cpu", o);
                CHECK(l.source().format() == "sharded");
                REQUIRE(l.tensors().size() == ref.tensors().size());
                std::map<const std::byte*, const std::byte*> placed;  // ref storage → placement
                for (std::size_t i = 0; i < ref.tensors().size(); ++i) {
                    const ptio::named_tensor& nt = ref.tensors()[i];
                    INFO("tensor ", nt.name);
                    const ptio::device_tensor& t = l.at(nt.name);
                    check_same_tensor(t, nt.tensor->view());
                    const auto [at, fresh] = placed.try_emplace(
                        nt.tensor->view().storage_bytes().data(), t.storage_data());
                    if (!fresh) CHECK(at->second == t.storage_data());  // tied: one placement
                }
                std::set<const std::byte*> distinct;
                for (const auto& [from, to] : placed) distinct.insert(to);
                CHECK(distinct.size() == storages.size());  // "0" of each shard apart
                const auto rows = l.summary();
                REQUIRE(rows.size() == 1);
                CHECK(rows[0].storages == storages.size());
                CHECK(rows[0].bytes == total);
                CHECK(l.bytes_to_move() == (placement == ptio::cpu_placement::copy ? total : 0));
            }
}
