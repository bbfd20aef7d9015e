// libFuzzer target: the formats before the zip (torch.save's legacy five-pickle stream and
// the tar of torch ≤ 0.1.9) through checkpoint::open. Inputs that no longer start like either
// are skipped, so the time goes to these readers rather than the sniffer's other branches.
// Seeds: torch.save(..., _use_new_zipfile_serialization=False) and tar files written as
// tests/fixtures/make_tar.py writes them (corpus/legacy/).
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "torch/legacy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = ptio_fuzz::bytes_of(data, size);
    if (!ptio::detail::torch::looks_like_legacy(bytes) && !ptio::detail::torch::looks_like_tar(bytes))
        return 0;
    try {
        ptio_fuzz::exercise(ptio::checkpoint::open(bytes, {}, "fuzz"));
    } catch (const ptio::error&) {
    }
    return 0;
}
