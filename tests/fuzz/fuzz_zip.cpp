// libFuzzer target: the zip directory reader on its own (zip::archive): end records, ZIP64,
// the central directory, local headers, then each record's stored bytes and, for small ones,
// its inflated bytes. Seeds: real torch.save archives (corpus/zip/).
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "zip/archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace zip = ptio::detail::zip;
    const auto bytes = ptio_fuzz::bytes_of(data, size);
    (void)zip::looks_like_zip(bytes);
    try {
        const zip::archive a(bytes, "fuzz", std::size_t{1} << 16);
        (void)a.prefix();
        for (const auto& e : a.entries()) {
            (void)a.relative_name(e);
            (void)a.find(e.name);
            try {
                (void)a.payload_offset(e);
                const auto stored = a.stored(e);
                (void)zip::crc32(stored);
                if (e.size <= ptio_fuzz::max_view_bytes) (void)a.extract(e);
            } catch (const ptio::error&) {
                // one bad record: the others are still read
            }
        }
    } catch (const ptio::error&) {
    }
    return 0;
}
