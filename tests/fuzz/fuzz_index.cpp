// libFuzzer target: the Hugging Face sharded index (pytorch_model.bin.index.json). The input
// is written as the index of a private folder that also holds two small valid shards,
// a.bin and b.bin (ptio::save of {"w", "v"} and {"x"}), so names the index puts in them
// really open; then everything a consumer does, plus find() of each name. Seeds: indexes
// over those shards (corpus/index/). The folder is removed when the process exits.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_support.hpp"

namespace {

std::filesystem::path make_folder() {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("ptio-fuzz-index-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::vector<float> w(6, 1.5f), x(4, -2.0f);
    std::vector<std::int64_t> v{1, 2, 3};
    auto a = ptio::tree::ordered_dict();
    a.set("w", ptio::tree::tensor(ptio::dtype::float32, {2, 3}, std::as_bytes(std::span(w))));
    a.set("v", ptio::tree::tensor(ptio::dtype::int64, {3}, std::as_bytes(std::span(v))));
    ptio::save(a, dir / "a.bin");
    auto b = ptio::tree::ordered_dict();
    b.set("x", ptio::tree::tensor(ptio::dtype::float32, {4}, std::as_bytes(std::span(x))));
    ptio::save(b, dir / "b.bin");
    return dir;
}

// Never destroyed, so the exit handler that removes the folder can still read its name.
const std::filesystem::path& folder() {
    static const std::filesystem::path* dir = [] {
        const auto* d = new std::filesystem::path(make_folder());
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(folder(), ec);
        });
        return d;
    }();
    return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto index = folder() / "pytorch_model.bin.index.json";
    {
        std::ofstream out(index, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    try {
        const auto ck = ptio::checkpoint::open(index);
        for (const auto& name : ck.shard_files()) (void)name;
        try {
            ptio_fuzz::exercise(ck);
        } catch (const ptio::error&) {
        }
        for (const char* name : {"w", "v", "x", "missing"}) {
            try {
                (void)ck.find(name);
            } catch (const ptio::error&) {
            }
        }
    } catch (const ptio::error&) {
    }
    return 0;
}
