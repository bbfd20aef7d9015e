// libFuzzer target: the torch rebuild (persistent ids, _rebuild_tensor_v2 and kin, storages
// against their records) behind a valid zip, so every input reaches it. The input is
//
//     u8 n, n × u16 (little-endian) storage sizes, then the bytes of data.pkl
//
// and the archive holds data.pkl, data/0 … data/<n-1> (of those sizes, patterned bytes),
// version and byteorder, as torch.save writes them. Seeds: data.pkl of real torch.save files
// with their storages' sizes (corpus/rebuild/, make_corpus.py).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "support/zip_builder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t n = data[0] % 8;
    if (size < 1 + 2 * n) return 0;
    ptio_test::zip_builder zip;
    const auto* rest = data + 1 + 2 * n;
    const std::string pkl(reinterpret_cast<const char*>(rest), size - 1 - 2 * n);
    zip.add("archive/data.pkl", pkl);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t bytes = data[1 + 2 * i] | (std::size_t{data[2 + 2 * i]} << 8);
        std::string payload(bytes, '\0');
        for (std::size_t j = 0; j < bytes; ++j) payload[j] = static_cast<char>(j * 7 + i);
        zip.add("archive/data/" + std::to_string(i), payload);
    }
    zip.add("archive/version", "3\n");
    zip.add("archive/byteorder", "little");
    const auto file = zip.finish();
    try {
        ptio_fuzz::exercise(ptio::checkpoint::open(std::span<const std::byte>(file), {}, "fuzz"));
    } catch (const ptio::error&) {
    }
    return 0;
}
