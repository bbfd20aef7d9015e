#include "ptio/tensor.hpp"

#include <algorithm>
#include <bit>

#include "ptio/error.hpp"
#include "torch/storage.hpp"

namespace ptio {

tensor_view::tensor_view(const detail::storage* storage, ptio::dtype type,
                         std::span<const std::int64_t> shape, std::span<const std::int64_t> strides,
                         std::int64_t storage_offset)
    : storage_(storage), dtype_(type), shape_(shape), strides_(strides), offset_(storage_offset) {
    for (auto s : shape) numel_ *= s;  // checked for overflow by the rebuilder
}

std::uint64_t tensor_view::nbytes() const noexcept {
    // Packed quantized types (quint4x2, quint2x4) hold several logical elements per byte.
    const std::uint64_t k = elements_per_byte(dtype_);
    return (static_cast<std::uint64_t>(numel_) + k - 1) / k * element_size();
}

bool tensor_view::is_contiguous() const noexcept {
    std::int64_t expected = 1;
    for (std::size_t d = shape_.size(); d-- > 0;) {
        if (shape_[d] == 1) continue;
        if (shape_[d] == 0) return true;
        if (strides_[d] != expected) return false;
        expected *= shape_[d];
    }
    return true;
}

std::span<const std::byte> tensor_view::storage_bytes() const {
    if (!storage_) return {};
    return storage_->bytes();
}

const std::byte* tensor_view::data() const {
    if (!storage_) return nullptr;
    const auto bytes = storage_->bytes();
    // A zero-element tensor may carry any offset (torch does not check it): no element is
    // addressed, so point at the storage rather than compute an address past it.
    if (numel_ == 0) return bytes.data();
    return bytes.data() + static_cast<std::size_t>(offset_) / elements_per_byte(dtype_) * element_size();
}

std::string_view tensor_view::storage_key() const noexcept {
    return storage_ ? std::string_view(storage_->key()) : std::string_view();
}

bool tensor_view::is_copy() const { return storage_ && storage_->is_copy(); }

std::uint64_t tensor_view::byte_offset(std::span<const std::int64_t> index) const {
    if (!storage_) throw error(errc::invalid_argument, "the tensor has no data (meta)");
    if (elements_per_byte(dtype_) != 1)
        throw error(errc::invalid_argument, std::string(name(dtype_)) +
                                                " packs several elements per byte; they have no byte offset");
    if (index.size() != shape_.size())
        throw error(errc::invalid_argument, "an index of " + std::to_string(index.size()) +
                                                " dimensions for a tensor of " +
                                                std::to_string(shape_.size()));
    std::int64_t e = offset_;
    for (std::size_t d = 0; d < index.size(); ++d) {
        if (index[d] < 0 || index[d] >= shape_[d])
            throw error(errc::invalid_argument, "index " + std::to_string(index[d]) +
                                                    " is out of range for dimension " +
                                                    std::to_string(d) + " of size " +
                                                    std::to_string(shape_[d]));
        e += index[d] * strides_[d];
    }
    return static_cast<std::uint64_t>(e) * element_size();
}

void tensor_view::check_element_type(std::size_t size) const {
    if (size != element_size())
        throw error(errc::invalid_argument, "reading " + std::string(name(dtype_)) +
                                                " elements of " + std::to_string(element_size()) +
                                                " bytes as a type of " + std::to_string(size));
    if (!storage_) throw error(errc::invalid_argument, "the tensor has no data (meta)");
}

namespace {

// Gathers with a compile-time element size, so each element is one load and one store.
template <std::size_t N>
void gather_run(const std::byte* src, std::int64_t n, std::int64_t stride, std::byte* dst) {
    for (std::int64_t i = 0; i < n; ++i)
        std::memcpy(dst + static_cast<std::size_t>(i) * N, src + static_cast<std::size_t>(i * stride) * N, N);
}

void gather(const std::byte* src, std::int64_t n, std::int64_t stride, std::size_t es, std::byte* dst) {
    switch (es) {
        case 1: gather_run<1>(src, n, stride, dst); return;
        case 2: gather_run<2>(src, n, stride, dst); return;
        case 4: gather_run<4>(src, n, stride, dst); return;
        case 8: gather_run<8>(src, n, stride, dst); return;
        case 16: gather_run<16>(src, n, stride, dst); return;
        default:
            for (std::int64_t i = 0; i < n; ++i)
                std::memcpy(dst + static_cast<std::size_t>(i) * es, src + static_cast<std::size_t>(i * stride) * es, es);
    }
}

// A transposed 2-D block (rows × cols, source strides rs and cs elements): copied in tiles
// so that both the reads down a source column and the writes along a row stay in cache.
template <std::size_t N>
void transpose_block(const std::byte* src, std::int64_t rows, std::int64_t cols, std::int64_t rs,
                     std::int64_t cs, std::byte* dst) {
    constexpr std::int64_t tile = 32;
    for (std::int64_t r0 = 0; r0 < rows; r0 += tile)
        for (std::int64_t c0 = 0; c0 < cols; c0 += tile) {
            const std::int64_t r1 = std::min(rows, r0 + tile), c1 = std::min(cols, c0 + tile);
            for (std::int64_t r = r0; r < r1; ++r)
                for (std::int64_t c = c0; c < c1; ++c)
                    std::memcpy(dst + static_cast<std::size_t>(r * cols + c) * N,
                                src + static_cast<std::size_t>(r * rs + c * cs) * N, N);
        }
}

bool transpose_2d(const std::byte* src, std::int64_t rows, std::int64_t cols, std::int64_t rs,
                  std::int64_t cs, std::size_t es, std::byte* dst) {
    switch (es) {
        case 1: transpose_block<1>(src, rows, cols, rs, cs, dst); return true;
        case 2: transpose_block<2>(src, rows, cols, rs, cs, dst); return true;
        case 4: transpose_block<4>(src, rows, cols, rs, cs, dst); return true;
        case 8: transpose_block<8>(src, rows, cols, rs, cs, dst); return true;
        case 16: transpose_block<16>(src, rows, cols, rs, cs, dst); return true;
        default: return false;
    }
}

}  // namespace

void tensor_view::copy_to(std::span<std::byte> out) const {
    if (out.size() != nbytes())
        throw error(errc::invalid_argument, "copy_to needs " + std::to_string(nbytes()) +
                                                " bytes, got " + std::to_string(out.size()));
    if (numel_ == 0) return;
    if (!storage_) throw error(errc::invalid_argument, "the tensor has no data (meta)");
    const std::byte* base = storage_->bytes().data();
    const std::size_t es = element_size();
    if (const auto k = elements_per_byte(dtype_); k != 1) {
        // Only whole bytes can be copied: a contiguous view starting on a byte boundary.
        if (!is_contiguous() || offset_ % static_cast<std::int64_t>(k) != 0)
            throw error(errc::invalid_argument, "a " + std::string(name(dtype_)) +
                                                    " view that does not start on a byte boundary "
                                                    "or is not contiguous cannot be copied");
        std::memcpy(out.data(), data(), out.size());
        return;
    }
    if (is_contiguous()) {
        std::memcpy(out.data(), base + static_cast<std::size_t>(offset_) * es, out.size());
        return;
    }
    // Walk every index but the innermost one (or two, for a transposed pair whose rows are
    // contiguous in the source); the innermost run is one memcpy when its stride is 1.
    const auto shape = shape_.span();
    const auto strides = strides_.span();
    const std::size_t nd = shape.size();
    const std::int64_t inner = shape[nd - 1];
    const std::int64_t inner_stride = strides[nd - 1];
    const bool tiled = nd >= 2 && inner_stride != 1 && strides[nd - 2] == 1 &&
                       shape[nd - 2] > 1 && es <= 16;
    const std::size_t outer_dims = tiled ? nd - 2 : nd - 1;
    const std::size_t block = static_cast<std::size_t>(tiled ? inner * shape[nd - 2] : inner) * es;
    std::vector<std::int64_t> idx(nd, 0);
    std::byte* dst = out.data();
    for (;;) {
        std::int64_t e = offset_;
        for (std::size_t d = 0; d < outer_dims; ++d) e += idx[d] * strides[d];
        const std::byte* src = base + static_cast<std::size_t>(e) * es;
        if (tiled) transpose_2d(src, shape[nd - 2], inner, strides[nd - 2], inner_stride, es, dst);
        else if (inner_stride == 1) std::memcpy(dst, src, block);
        else gather(src, inner, inner_stride, es, dst);
        dst += block;
        std::size_t d = outer_dims;
        for (;;) {
            if (d == 0) return;
            --d;
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

std::vector<std::byte> tensor_view::to_contiguous() const {
    std::vector<std::byte> out(nbytes());
    copy_to(out);
    return out;
}

namespace {
bool is_integer(ptio::dtype t) {
    switch (t) {
        case dtype::int8: case dtype::int16: case dtype::int32: case dtype::int64:
        case dtype::uint8: case dtype::uint16: case dtype::uint32: case dtype::uint64:
        case dtype::qint8: case dtype::quint8: case dtype::qint32:
            return true;
        default:
            return false;
    }
}
}  // namespace

void resolve_conj_neg(std::span<std::byte> elements, ptio::dtype type, bool conj, bool neg) {
    const std::size_t es = element_size(type);
    if (elements.size() % es != 0)
        throw error(errc::invalid_argument, "resolve_conj_neg: " + std::to_string(elements.size()) +
                                                " bytes are not whole " + std::string(name(type)) +
                                                " elements");
    if (!conj && !neg) return;
    const bool little = std::endian::native == std::endian::little;
    auto flip_sign = [&](std::byte* value, std::size_t width) {  // IEEE: the top bit
        value[little ? width - 1 : 0] ^= std::byte{0x80};
    };
    for (std::size_t at = 0; at < elements.size(); at += es) {
        std::byte* e = elements.data() + at;
        if (is_complex(type)) {
            const std::size_t half = es / 2;
            if (neg) flip_sign(e, half);                    // real part
            if (conj != neg) flip_sign(e + half, half);     // imaginary: conj and neg cancel
        } else if (neg && is_integer(type)) {
            // Two's complement negation, byte by byte from the least significant end.
            unsigned carry = 1;
            for (std::size_t i = 0; i < es; ++i) {
                const std::size_t b = little ? i : es - 1 - i;
                const unsigned v = static_cast<unsigned>(~static_cast<unsigned>(e[b]) & 0xFFu) + carry;
                e[b] = static_cast<std::byte>(v & 0xFFu);
                carry = v >> 8;
            }
        } else if (neg && type != dtype::boolean) {
            flip_sign(e, es);
        }
    }
}

}  // namespace ptio
