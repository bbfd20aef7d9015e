// The pinned pool (ptio::stager) as loads use it: its options, chunk sizes that send runs
// down the pread and the mmap paths, and one file loaded many times over the shared pool.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <utility>

#include <ptio/ptio.hpp>

#include "support/staging_support.hpp"

using namespace ptio_test;
namespace fs = std::filesystem;

TEST_CASE("staging: pread and mmap copy the same bytes whatever the chunk size") {
    // pread serves runs of 64 KiB and more; smaller runs, and chunks smaller than that, are
    // memcpy'd from the mapping. Chunks of 4 KiB, 64 KiB and 8 MiB cover both paths.
    ptio::stager tiny(ptio::stager_options{.chunk_bytes = 4096, .chunks = 2});
    ptio::stager medium(ptio::stager_options{.chunk_bytes = 65536, .chunks = 2});
    for (const fs::path& file : {fixture("big.pt"), fixture("training.pt"), fixture("views.pt"),
                                 fs::path(PTIO_MALFORMED_DIR) / "valid_deflated_all.pt"}) {
        const ptio::checkpoint ref = ptio::checkpoint::open(file);
        for (auto read : {ptio::file_read::pread, ptio::file_read::mmap})
            for (ptio::stager* s : {&tiny, &medium, static_cast<ptio::stager*>(nullptr)}) {
                INFO("file ", file.filename().string(),
                     std::string(read == ptio::file_read::pread ? ", pread" : ", mmap"),
                     ", chunk ", s ? s->options().chunk_bytes : ptio::stager::shared().options().chunk_bytes);
                ptio::load_options o;
                o.cpu = ptio::cpu_placement::copy;
                o.read = read;
                o.staging = s;
                const ptio::loaded l = ptio::load(file, "cpu", o);
                for (const ptio::named_tensor& nt : ref.tensors())
                    CHECK(same_bytes(host_copy(l.at(nt.name)), nt.tensor->view().storage_bytes()));
            }
    }
}

TEST_CASE("staging: stager options are checked") {
    CHECK(code_of([] { ptio::stager s(ptio::stager_options{.chunk_bytes = 4095}); }) ==
          ptio::errc::invalid_argument);
    CHECK(code_of([] { ptio::stager s(ptio::stager_options{.chunks = 0}); }) ==
          ptio::errc::invalid_argument);
    const ptio::stager s(ptio::stager_options{.chunk_bytes = 4096, .chunks = 2});
    CHECK(s.options().chunk_bytes == 4096);
    CHECK(s.options().chunks == 2);
    CHECK(s.pinned_bytes() == 0);  // nothing pinned before a CUDA load
    CHECK(&ptio::stager::shared() == &ptio::stager::shared());
    ptio::stager moved(ptio::stager_options{.chunk_bytes = 8192});
    ptio::stager target = std::move(moved);
    CHECK(target.options().chunk_bytes == 8192);
}

TEST_CASE("staging: the same file loads 50 times in a row") {
    const fs::path file = fixture("big.pt");
    const ptio::checkpoint ref = ptio::checkpoint::open(file);
    ptio::load_options o;
    o.cpu = ptio::cpu_placement::copy;
    for (int i = 0; i < 50; ++i) {
        INFO("load #", i);
        const ptio::loaded l = ptio::load(file, "cpu", o);
        REQUIRE(l.ready());
        for (const ptio::named_tensor& nt : ref.tensors())
            REQUIRE(same_bytes(host_copy(l.at(nt.name)), nt.tensor->view().storage_bytes()));
    }
}
