// core/checked — overflow-checked arithmetic on sizes and offsets read from untrusted files.
#pragma once

#include <cstdint>

namespace ptio::detail {

/// Overflow-checked a + b: true (and `out` unspecified) when the sum does not fit.
[[nodiscard]] inline bool add_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
    return __builtin_add_overflow(a, b, &out);
}
/// Overflow-checked a × b: true (and `out` unspecified) when the product does not fit.
[[nodiscard]] inline bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
    return __builtin_mul_overflow(a, b, &out);
}

}  // namespace ptio::detail
