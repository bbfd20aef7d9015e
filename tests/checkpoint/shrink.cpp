// A checkpoint whose file shrinks after it was opened (torch.save rewriting the path in
// place): every read the library makes of the mapping is an io_error naming the file, never
// SIGBUS — copy_to and to_contiguous (contiguous and strided views), for_each_chunk, verify,
// save of its tensors (which leaves no file behind) and a CPU-copy load through the mapping.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"
#include "ptio/load.hpp"
#include "ptio/save.hpp"
#include "ptio/tree.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path folder = fs::temp_directory_path() / ("ptio_shrink_" + std::to_string(::getpid()));

// Four float32 tensors of 1 MiB; "t" is stored transposed (strides 1, 512).
fs::path write_source() {
    fs::create_directories(folder);
    ptio::tree sd = ptio::tree::ordered_dict();
    for (int i = 0; i < 3; ++i) {
        std::vector<std::byte> b(1 << 20, static_cast<std::byte>(i + 1));
        sd.set("w" + std::to_string(i), ptio::tree::tensor(ptio::storage_ref::own(std::move(b)),
                                                           ptio::dtype::float32, {512, 512}, {}, 0));
    }
    std::vector<std::byte> b(1 << 20, std::byte{9});
    sd.set("t", ptio::tree::tensor(ptio::storage_ref::own(std::move(b)), ptio::dtype::float32,
                                   {512, 512}, {1, 512}, 0));
    const fs::path path = folder / "source.pt";
    (void)ptio::save(sd, path);
    return path;
}

void expect_shrank(const std::function<void()>& read, const std::string& what) {
    INFO(what);
    try {
        read();
        FAIL("no error");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::io_error);
        CHECK(std::string(e.what()).find("the file shrank while it was being read") != std::string::npos);
        CHECK(e.file().find("victim") != std::string::npos);
    }
}

}  // namespace

TEST_CASE("shrink: every library read of a checkpoint truncated under its mapping is an io_error") {
    const fs::path source = write_source();
    const auto size = fs::file_size(source);
    for (const std::uintmax_t keep : {size / 2, std::uintmax_t{4096}, std::uintmax_t{0}}) {
        CAPTURE(keep);
        const fs::path victim = folder / "victim.pt";
        fs::copy_file(source, victim, fs::copy_options::overwrite_existing);
        auto ck = ptio::checkpoint::open(victim);
        const auto& listed = ck.tensors();
        REQUIRE(listed.size() == 4);
        fs::resize_file(victim, keep);
        // The last tensor written lies in the file's second half, so every cut removes it.
        const ptio::tensor_view w2 = listed[2].tensor->view();
        const ptio::tensor_view t = listed[3].tensor->view();
        REQUIRE(!t.is_contiguous());
        std::vector<std::byte> out(w2.nbytes());
        expect_shrank([&] { w2.copy_to(out); }, "copy_to, contiguous");
        expect_shrank([&] { (void)t.to_contiguous(); }, "to_contiguous, transposed");
        expect_shrank([&] { w2.for_each_chunk(1 << 16, [](std::span<const std::byte>) {}); },
                      "for_each_chunk, contiguous");
        expect_shrank([&] { t.for_each_chunk(1 << 16, [](std::span<const std::byte>) {}); },
                      "for_each_chunk, transposed");
        expect_shrank([&] { (void)ck.verify([](const ptio::error&) {}); }, "verify");

        const fs::path out_dir = folder / "out";
        fs::remove_all(out_dir);
        fs::create_directories(out_dir);
        ptio::tree copy = ptio::tree::ordered_dict();
        for (const auto& n : listed) copy.set(n.name, ptio::tree::tensor(*n.tensor));
        expect_shrank([&] { (void)ptio::save(copy, out_dir / "copy.pt"); }, "save");
        CHECK(fs::is_empty(out_dir));

        for (const auto read : {ptio::file_read::mmap, ptio::file_read::pread}) {
            const fs::path loaded = folder / "victim_load.pt";
            fs::remove(loaded);
            fs::copy_file(source, loaded);
            auto opened = ptio::checkpoint::open(loaded);
            fs::resize_file(loaded, keep);
            ptio::load_options o;
            o.cpu = ptio::cpu_placement::copy;
            o.read = read;
            expect_shrank([&] { (void)ptio::load(std::move(opened), "cpu", o); },
                          read == ptio::file_read::mmap ? "load, mmap" : "load, pread");
        }
    }
    fs::remove_all(folder);
}
