// libFuzzer target: any bytes through checkpoint::open, then every tensor's bytes read out
// and the state_dict() names built.
// The contract under test: a ptio::error or success, never a crash, a sanitizer report,
// a hang or an out-of-memory. Build with -DPTIO_BUILD_FUZZERS=ON and clang; see README.
#include <cstddef>
#include <cstdint>
#include <ptio/ptio.hpp>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        ptio::open_options options;
        options.verify_crc = (size % 2) == 1;  // both paths, chosen by the input
        const auto ck = ptio::checkpoint::open(
            std::span(reinterpret_cast<const std::byte*>(data), size), options, "fuzz");
        for (const auto& t : ck.tensors()) {
            const auto& v = t.tensor->view();
            if (!v.has_data() || v.nbytes() > (std::uint64_t{64} << 20)) continue;
            std::vector<std::byte> out(static_cast<std::size_t>(v.nbytes()));
            v.copy_to(out);
        }
        (void)ck.state_dict();
        (void)ck.verify(nullptr);
    } catch (const ptio::error&) {
    }
    return 0;
}
