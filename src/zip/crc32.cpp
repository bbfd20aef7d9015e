// CRC-32 (the zip polynomial). zlib's table-driven code runs at about 1 GB/s per core, which
// bounds how fast a checkpoint can be written or verified; x86 CPUs with PCLMULQDQ fold 64
// bytes per step with carry-less multiplication instead (Intel's "Fast CRC Computation for
// Generic Polynomials Using PCLMULQDQ", the same constants Chromium's zlib uses) at several
// times that. Chosen at run time; lengths under 64 bytes and tails go to zlib.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <span>

#include "zip/archive.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define PTIO_CRC_CLMUL 1
#endif

namespace ptio::detail::zip {
namespace {

std::uint32_t crc_zlib(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
    uLong c = crc;
    while (n > 0) {  // zlib takes uInt lengths
        const auto k = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
        c = ::crc32(c, p, k);
        p += k;
        n -= k;
    }
    return static_cast<std::uint32_t>(c);
}

#ifdef PTIO_CRC_CLMUL
// crc is the inverted running value; len ≥ 64 and a multiple of 16.
__attribute__((target("pclmul,sse4.1"))) std::uint32_t crc_clmul(std::uint32_t crc,
                                                                 const unsigned char* buf,
                                                                 std::size_t len) noexcept {
    alignas(16) static const std::uint64_t k1k2[2] = {0x0154442bd4, 0x01c6e41596};
    alignas(16) static const std::uint64_t k3k4[2] = {0x01751997d0, 0x00ccaa009e};
    alignas(16) static const std::uint64_t k5k0[2] = {0x0163cd6124, 0x0000000000};
    alignas(16) static const std::uint64_t poly[2] = {0x01db710641, 0x01f7011641};
    auto load = [](const unsigned char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); };

    __m128i x1 = load(buf), x2 = load(buf + 16), x3 = load(buf + 32), x4 = load(buf + 48);
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(static_cast<int>(crc)));
    __m128i x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k1k2));
    buf += 64;
    len -= 64;
    while (len >= 64) {  // four lanes of 128 bits folded forward 512 bits
        const __m128i x5 = _mm_clmulepi64_si128(x1, x0, 0x00), x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
        const __m128i x7 = _mm_clmulepi64_si128(x3, x0, 0x00), x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
        x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
        x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), load(buf));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), load(buf + 16));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), load(buf + 32));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), load(buf + 48));
        buf += 64;
        len -= 64;
    }
    // Fold the four lanes into one.
    x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k3k4));
    for (__m128i next : {x2, x3, x4}) {
        const __m128i x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x11), next), x5);
    }
    while (len >= 16) {
        const __m128i x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x11), load(buf)), x5);
        buf += 16;
        len -= 16;
    }
    // 128 → 64 bits, then Barrett reduction to 32.
    __m128i x2b = _mm_clmulepi64_si128(x1, x0, 0x10);
    const __m128i mask = _mm_setr_epi32(~0, 0, ~0, 0);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2b);
    x0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(k5k0));
    x2b = _mm_srli_si128(x1, 4);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask), x0, 0x00), x2b);
    x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(poly));
    x2b = _mm_clmulepi64_si128(_mm_and_si128(x1, mask), x0, 0x10);
    x2b = _mm_clmulepi64_si128(_mm_and_si128(x2b, mask), x0, 0x00);
    x1 = _mm_xor_si128(x1, x2b);
    return static_cast<std::uint32_t>(_mm_extract_epi32(x1, 1));
}

bool have_clmul() noexcept {
    static const bool yes = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    return yes;
}
#endif

}  // namespace

std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t n = bytes.size();
#ifdef PTIO_CRC_CLMUL
    if (n >= 64 && have_clmul()) {
        const std::size_t body = n & ~std::size_t{15};
        crc = ~crc_clmul(~crc, p, body);
        p += body;
        n -= body;
    }
#endif
    return crc_zlib(crc, p, n);
}

std::uint32_t crc32(std::span<const std::byte> bytes) noexcept { return crc32_update(0, bytes); }

std::uint32_t crc32_reference(std::span<const std::byte> bytes) noexcept {
    return crc_zlib(0, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

}  // namespace ptio::detail::zip
