// core/geometry — the arithmetic of strided views: contiguous strides and how many bytes of
// its storage a view reaches, with every product and sum checked for overflow (a file may
// claim any shape; an expanded view makes a huge element count cheap). Pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ptio/dtype.hpp"

namespace ptio::detail::geometry {

/// Row-major strides for `shape` (a zero-size dimension counts as one, as torch does).
[[nodiscard]] std::vector<std::int64_t> contiguous_strides(std::span<const std::int64_t> shape);

/// What is wrong with a view's geometry, if anything.
enum class problem : std::uint8_t {
    none,
    rank_mismatch,    ///< sizes and strides differ in count
    negative_size,    ///< in `dim`
    negative_stride,  ///< in `dim`
    negative_offset,
    count_overflow,   ///< the element count passes int64
    bytes_overflow,   ///< element count × element size passes uint64
    extent_overflow,  ///< offset + Σ (size − 1) × stride passes uint64
};

struct extent {
    geometry::problem problem = geometry::problem::none;
    std::size_t dim = 0;
    std::uint64_t numel = 0;
    /// Bytes the view's elements take (numel × element size).
    std::uint64_t nbytes = 0;
    /// One past the last storage byte the view reads; 0 for an empty view. Packed sub-byte
    /// dtypes count logical elements, so their end is rounded up to whole bytes.
    std::uint64_t end_byte = 0;
};

/// The extent of a view of `type` with this shape, strides and offset (in elements).
[[nodiscard]] extent view_extent(dtype type, std::span<const std::int64_t> shape,
                                 std::span<const std::int64_t> strides, std::int64_t offset) noexcept;

/// The problem in words ("a negative stride in dimension 2"), for error messages; a count
/// past 64 bits is given as such ("more than 2^64 bytes"), never wrapped.
[[nodiscard]] std::string describe(const extent& e, std::size_t sizes, std::size_t strides);

}  // namespace ptio::detail::geometry
