#include "core/geometry.hpp"

#include "core/checked.hpp"

#include <algorithm>
#include <limits>

namespace ptio::detail::geometry {

std::vector<std::int64_t> contiguous_strides(std::span<const std::int64_t> shape) {
    std::vector<std::int64_t> s(shape.size());
    std::int64_t step = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
        s[i] = step;
        step *= std::max<std::int64_t>(shape[i], 1);
    }
    return s;
}

extent view_extent(dtype type, std::span<const std::int64_t> shape,
                   std::span<const std::int64_t> strides, std::int64_t offset) noexcept {
    extent e;
    if (shape.size() != strides.size()) {
        e.problem = problem::rank_mismatch;
        return e;
    }
    if (offset < 0) {
        e.problem = problem::negative_offset;
        return e;
    }
    std::uint64_t numel = 1;
    for (std::size_t d = 0; d < shape.size(); ++d) {
        e.dim = d;
        if (shape[d] < 0) {
            e.problem = problem::negative_size;
            return e;
        }
        if (strides[d] < 0) {
            e.problem = problem::negative_stride;
            return e;
        }
        if (mul_overflows(numel, static_cast<std::uint64_t>(shape[d]), numel) ||
            numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            e.problem = problem::count_overflow;
            return e;
        }
    }
    e.dim = 0;
    e.numel = numel;
    const std::uint64_t esize = element_size(type);
    if (mul_overflows(numel, esize, e.nbytes)) {
        e.problem = problem::bytes_overflow;
        return e;
    }
    if (numel == 0) return e;
    std::uint64_t last = static_cast<std::uint64_t>(offset);
    for (std::size_t d = 0; d < shape.size(); ++d) {
        std::uint64_t reach = 0;
        if (mul_overflows(static_cast<std::uint64_t>(shape[d] - 1), static_cast<std::uint64_t>(strides[d]), reach) ||
            add_overflows(last, reach, last)) {
            e.problem = problem::extent_overflow;
            return e;
        }
    }
    // Packed 4- and 2-bit quantized types count logical elements; their storage is bytes.
    const std::uint64_t per_byte = elements_per_byte(type);
    if (mul_overflows(last / per_byte + 1, esize, e.end_byte)) e.problem = problem::extent_overflow;
    return e;
}

std::string describe(const extent& e, std::size_t sizes, std::size_t strides) {
    switch (e.problem) {
        case problem::none: return "no problem";
        case problem::rank_mismatch:
            return "a tensor with " + std::to_string(sizes) + " sizes but " + std::to_string(strides) + " strides";
        case problem::negative_size: return "a negative size in dimension " + std::to_string(e.dim);
        case problem::negative_stride: return "a negative stride in dimension " + std::to_string(e.dim);
        case problem::negative_offset: return "a negative storage offset";
        // The true counts do not fit 64 bits: say so rather than print a wrapped one.
        case problem::count_overflow: return "the tensor has more than 2^63 - 1 elements";
        case problem::bytes_overflow: return "the tensor's elements take more than 2^64 bytes";
        case problem::extent_overflow:
            return "the tensor (its offset and strides) reaches more than 2^64 bytes into its storage";
    }
    return "an impossible view";
}

}  // namespace ptio::detail::geometry
