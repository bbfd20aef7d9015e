#include "ptio/tensor.hpp"

#include <algorithm>
#include <functional>
#include <bit>
#include <new>

#include <unistd.h>

#include "io/guard.hpp"
#include "ptio/error.hpp"
#include "torch/storage.hpp"

namespace ptio {

tensor_view::tensor_view(const detail::storage* storage, ptio::dtype type,
                         std::span<const std::int64_t> shape, std::span<const std::int64_t> strides,
                         std::int64_t storage_offset)
    : storage_(storage), offset_(storage_offset), inline_{}, dtype_(type) {
    // The rebuilder refuses a rank past limits::max_dims and sizes whose product overflows;
    // a rank that does not fit here is refused too, as a cap would.
    if (shape.size() != strides.size())
        throw error(errc::invalid_argument, "a tensor view with " + std::to_string(shape.size()) +
                                                " sizes but " + std::to_string(strides.size()) + " strides");
    if (shape.size() > UINT16_MAX)  // only with limits::max_dims raised past it
        throw error(errc::limit_exceeded, "a tensor of " + std::to_string(shape.size()) +
                                              " dimensions, more than a view holds (65,535)");
    const std::size_t n = shape.size();
    std::int64_t* d = inline_;
    if (n > inline_rank) d = heap_ = new std::int64_t[2 * n];
    std::copy(shape.begin(), shape.end(), d);
    std::copy(strides.begin(), strides.end(), d + n);
    rank_ = static_cast<std::uint16_t>(n);
}

std::uint64_t tensor_view::nbytes() const noexcept {
    // Packed quantized types (quint4x2, quint2x4) hold several logical elements per byte.
    const std::uint64_t k = elements_per_byte(dtype_);
    return (static_cast<std::uint64_t>(numel()) + k - 1) / k * element_size();
}

bool tensor_view::is_contiguous() const noexcept {
    std::int64_t expected = 1;
    const auto sizes = shape();
    const auto steps = strides();
    for (std::size_t d = sizes.size(); d-- > 0;) {
        if (sizes[d] == 1) continue;
        if (sizes[d] == 0) return true;
        if (steps[d] != expected) return false;
        expected *= sizes[d];
    }
    return true;
}

std::span<const std::byte> tensor_view::storage_bytes() const {
    if (!storage_) return {};
    return storage_->bytes();
}

std::uint64_t tensor_view::data_offset() const noexcept {
    // A zero-element tensor may carry any offset (torch does not check it): no element is
    // addressed, so point at the storage rather than compute an address past it.
    if (!storage_ || numel() == 0) return 0;
    return static_cast<std::uint64_t>(offset_) / elements_per_byte(dtype_) * element_size();
}

const std::byte* tensor_view::data() const {
    if (!storage_) return nullptr;
    return storage_->bytes().data() + data_offset();
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
    const auto sizes = shape();
    const auto steps = strides();
    if (index.size() != sizes.size())
        throw error(errc::invalid_argument, "an index of " + std::to_string(index.size()) +
                                                " dimensions for a tensor of " +
                                                std::to_string(sizes.size()));
    std::int64_t e = offset_;
    for (std::size_t d = 0; d < index.size(); ++d) {
        if (index[d] < 0 || index[d] >= sizes[d])
            throw error(errc::invalid_argument, "index " + std::to_string(index[d]) +
                                                    " is out of range for dimension " +
                                                    std::to_string(d) + " of size " +
                                                    std::to_string(sizes[d]));
        e += index[d] * steps[d];
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

bool tensor_view::one_run() const {
    if (!storage_) throw error(errc::invalid_argument, "the tensor has no data (meta)");
    if (const auto k = elements_per_byte(dtype_); k != 1) {
        // Only whole bytes can be read: a contiguous view starting on a byte boundary.
        if (!is_contiguous() || offset_ % static_cast<std::int64_t>(k) != 0)
            throw error(errc::invalid_argument, "a " + std::string(name(dtype_)) +
                                                    " view that does not start on a byte boundary "
                                                    "or is not contiguous cannot be copied");
        return true;
    }
    return is_contiguous();
}

std::span<const std::byte> tensor_view::contiguous_bytes() const {
    if (!one_run()) return {};
    return {data(), static_cast<std::size_t>(nbytes())};
}

void tensor_view::gather_into(std::span<std::byte> buf,
                              const std::function<void(std::size_t)>& flush) const {
    // Dimensions of size 1 do not move the walk; without them a transposed pair is seen
    // whatever unit dimensions surround it.
    std::vector<std::int64_t> shape, strides;
    const auto all_sizes = this->shape();
    const auto all_steps = this->strides();
    for (std::size_t d = 0; d < all_sizes.size(); ++d)
        if (all_sizes[d] != 1) shape.push_back(all_sizes[d]), strides.push_back(all_steps[d]);
    // Every read of the storage is guarded (a mapped file may shrink under it), one guard per
    // row or band: a guard costs a few nanoseconds, a row at least one element's copy.
    const std::span<const std::byte> whole = storage_->bytes();
    const std::byte* base = whole.data();
    const std::size_t es = element_size();
    const std::size_t nd = shape.size();  // >= 1: a view of one element is contiguous
    const std::int64_t inner = shape[nd - 1];
    const std::int64_t inner_stride = strides[nd - 1];
    const std::size_t row_bytes = static_cast<std::size_t>(inner) * es;
    // A transposed trailing pair (rows contiguous in the source) is copied in tiles, whole
    // bands of rows at a time; anything else walks every index but the innermost, whose run
    // is one memcpy when its stride is 1.
    const bool tiled = nd >= 2 && inner_stride != 1 && strides[nd - 2] == 1 && es <= 16 &&
                       row_bytes <= buf.size();
    const std::size_t outer_dims = tiled ? nd - 2 : nd - 1;
    std::size_t used = 0;
    // Before each flush: a file cut inside a page reads as zeros there, not as a fault.
    auto room = [&](std::size_t n) {
        if (used + n > buf.size()) {
            detail::check_still_mapped(whole);
            flush(used);
            used = 0;
        }
    };
    auto run = [&](const std::byte* src) {  // one row, in pieces that fit the buffer
        const auto per_piece = static_cast<std::int64_t>(buf.size() / es);
        for (std::int64_t i = 0; i < inner; i += per_piece) {
            const std::int64_t n = std::min(per_piece, inner - i);
            const std::size_t bytes = static_cast<std::size_t>(n) * es;
            room(bytes);
            const std::byte* from = src + static_cast<std::size_t>(i * inner_stride) * es;
            std::byte* to = buf.data() + used;
            if (inner_stride == 1) detail::guarded_copy(to, {from, bytes});
            else detail::guarded(whole, {}, [&]() noexcept { gather(from, n, inner_stride, es, to); });
            used += bytes;
        }
    };
    std::vector<std::int64_t> idx(outer_dims, 0);
    for (;;) {
        std::int64_t e = offset_;
        for (std::size_t d = 0; d < outer_dims; ++d) e += idx[d] * strides[d];
        const std::byte* src = base + static_cast<std::size_t>(e) * es;
        if (tiled) {
            const std::int64_t rows = shape[nd - 2];
            const auto band = static_cast<std::int64_t>(buf.size() / row_bytes);
            for (std::int64_t r = 0; r < rows; r += band) {
                const std::int64_t n = std::min(band, rows - r);
                room(static_cast<std::size_t>(n) * row_bytes);
                const std::byte* from = src + static_cast<std::size_t>(r * strides[nd - 2]) * es;
                std::byte* to = buf.data() + used;
                detail::guarded(whole, {}, [&]() noexcept {
                    transpose_2d(from, n, inner, strides[nd - 2], inner_stride, es, to);
                });
                used += static_cast<std::size_t>(n) * row_bytes;
            }
        } else {
            run(src);
        }
        std::size_t d = outer_dims;
        for (;;) {
            if (d == 0) {
                detail::check_still_mapped(whole);
                flush(used);
                return;
            }
            --d;
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

void tensor_view::copy_to(std::span<std::byte> out) const {
    if (out.size() != nbytes())
        throw error(errc::invalid_argument, "copy_to needs " + std::to_string(nbytes()) +
                                                " bytes, got " + std::to_string(out.size()));
    if (numel() == 0) return;
    if (const auto bytes = contiguous_bytes(); !bytes.empty()) {
        detail::guarded_copy(out.data(), bytes);
        return;
    }
    gather_into(out, [](std::size_t) {});  // the output is the buffer: it never fills up
}

void tensor_view::for_each_chunk(std::size_t chunk_bytes,
                                 const std::function<void(std::span<const std::byte>)>& sink) const {
    if (numel() == 0) return;
    const std::size_t chunk = std::max(chunk_bytes, element_size());
    std::vector<std::byte> buf(static_cast<std::size_t>(std::min<std::uint64_t>(chunk, nbytes())));
    if (one_run()) {
        // Read by the storage (a deflated record is streamed, not held whole), and each piece
        // copied under a guard rather than handed out in place: the sink (a hash) would read
        // the mapping where no guard can reach, and a shrunk file would end the process.
        storage_->read_range(data_offset(), nbytes(), chunk, [&](std::span<const std::byte> piece) {
            detail::guarded_copy(buf.data(), piece);
            sink({buf.data(), piece.size()});
        });
        return;
    }
    gather_into(buf, [&](std::size_t used) {
        if (used) sink({buf.data(), used});
    });
}

// An expanded view (stride 0) may claim far more elements than its storage holds; its copy
// is refused before anything is allocated when it could never fit this machine's memory (a
// vector that size would throw, or, overcommitted, be killed while zeroing it).
std::vector<std::byte> tensor_view::to_contiguous() const {
    const std::uint64_t n = nbytes();
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    const std::uint64_t memory = pages > 0 && page > 0
                                     ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page)
                                     : std::uint64_t{1} << 62;
    const auto refuse = [&](const std::string& why) {
        return error(errc::limit_exceeded, {}, storage_ ? std::string(storage_->record()) : std::string(), std::nullopt,
                     "to_contiguous() of a view of " + std::to_string(n) + " bytes (" +
                         std::to_string(numel()) + " elements): " + why);
    };
    if (n > memory) throw refuse("more than this machine's " + std::to_string(memory) + " bytes of memory");
    try {
        std::vector<std::byte> out(static_cast<std::size_t>(n));
        copy_to(out);
        return out;
    } catch (const std::bad_alloc&) {
        throw refuse("out of memory");
    }
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

// A checkpoint holds one of each per tensor: keep them from growing unnoticed (LP64).
static_assert(sizeof(void*) != 8 || sizeof(ptio::tensor_view) == 88);
static_assert(sizeof(void*) != 8 || sizeof(ptio::tensor) == 96);
