// libFuzzer target: any bytes through checkpoint::open (every format ptio sniffs), then what
// every consumer does with the result (fuzz_support.hpp). Seeds: real torch.save output of
// each format (corpus/open/, made by make_corpus.py).
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        ptio::open_options options;
        options.verify_crc = (size % 2) == 1;  // both paths, chosen by the input
        ptio_fuzz::exercise(ptio::checkpoint::open(ptio_fuzz::bytes_of(data, size), options, "fuzz"));
    } catch (const ptio::error&) {
    }
    return 0;
}
