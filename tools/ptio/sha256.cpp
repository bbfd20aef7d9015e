// tools/ptio/sha256.cpp
#include "sha256.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

namespace ptio_cli {

void sha256::context_deleter::operator()(evp_md_ctx_st* ctx) const noexcept {
    EVP_MD_CTX_free(ctx);
}

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("OpenSSL: cannot start a SHA-256 digest");
}
sha256::sha256(sha256&&) noexcept = default;
sha256& sha256::operator=(sha256&&) noexcept = default;
sha256::~sha256() = default;

void sha256::update(std::span<const std::byte> bytes) {
    if (!bytes.empty() && EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) != 1)
        throw std::runtime_error("OpenSSL: SHA-256 update failed");
}

std::string sha256::hex_digest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), digest, &length) != 1)
        throw std::runtime_error("OpenSSL: SHA-256 final failed");
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * length);
    for (unsigned int i = 0; i < length; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0xF];
    }
    return out;
}

namespace {

constexpr std::size_t block_size = std::size_t{1} << 20;  // gather buffer and update size
constexpr std::size_t band_size = std::size_t{8} << 20;   // rows gathered from a transposed view

// Feeds runs of bytes to a digest, gathering short ones into one block so a transposed view
// costs one update per megabyte, not one per element.
class gatherer {
public:
    explicit gatherer(sha256& digest) : digest_(digest) { block_.reserve(block_size); }

    void add(const std::byte* p, std::size_t n) {
        if (n >= block_size) {
            flush();
            for (std::size_t done = 0; done < n; done += block_size)
                digest_.update({p + done, std::min(block_size, n - done)});
            return;
        }
        if (block_.size() + n > block_size) flush();
        block_.insert(block_.end(), p, p + n);
    }
    void flush() {
        digest_.update(block_);
        block_.clear();
    }

private:
    sha256& digest_;
    std::vector<std::byte> block_;
};

// Calls fn(offset) for every index of dimensions [0, count), in row-major order, with the
// element offset of that index; once with 0 when count is 0.
template <class Fn>
void for_each_offset(std::span<const std::int64_t> shape, std::span<const std::int64_t> stride,
                     std::size_t count, Fn fn) {
    std::vector<std::int64_t> index(count, 0);
    std::int64_t offset = 0;
    for (;;) {
        fn(offset);
        std::size_t d = count;
        for (;;) {
            if (d == 0) return;
            --d;
            offset += stride[d];
            if (++index[d] < shape[d]) break;
            offset -= stride[d] * shape[d];
            index[d] = 0;
        }
    }
}

// Copies a band of `rows` logical rows of a matrix whose columns are contiguous in memory
// (element (i, j) at src + i * E + j * column_step) into dst in row-major order. It works in
// tiles of 64 columns, so the 64 memory rows a tile reads stay in cache while it writes whole
// stretches of each logical row.
template <std::size_t E>
void gather_band(std::byte* dst, const std::byte* src, std::int64_t rows, std::int64_t cols,
                 std::ptrdiff_t column_step) {
    constexpr std::int64_t tile = 64;
    const auto e = static_cast<std::ptrdiff_t>(E);
    for (std::int64_t j0 = 0; j0 < cols; j0 += tile) {
        const std::int64_t j1 = std::min(cols, j0 + tile);
        const auto width = static_cast<std::ptrdiff_t>(j1 - j0);
        for (std::int64_t i = 0; i < rows; ++i) {
            std::byte* out = dst + (static_cast<std::ptrdiff_t>(i) * cols + j0) * e;
            const std::byte* in = src + static_cast<std::ptrdiff_t>(i) * e + j0 * column_step;
            for (std::ptrdiff_t j = 0; j < width; ++j)
                std::memcpy(out + j * e, in + j * column_step, E);
        }
    }
}

using band_function = void (*)(std::byte*, const std::byte*, std::int64_t, std::int64_t,
                               std::ptrdiff_t);

band_function band_for(std::size_t element_size) {
    switch (element_size) {
        case 1:
            return gather_band<1>;
        case 2:
            return gather_band<2>;
        case 4:
            return gather_band<4>;
        case 8:
            return gather_band<8>;
        case 16:
            return gather_band<16>;
        default:
            return nullptr;
    }
}

}  // namespace

std::string tensor_sha256(const ptio::tensor_view& view) {
    sha256 digest;
    const std::uint64_t nbytes = view.nbytes();
    if (nbytes == 0) return digest.hex_digest();
    const std::byte* base = view.data();
    if (view.is_contiguous()) {
        for (std::uint64_t done = 0; done < nbytes; done += block_size) {
            const auto n =
                static_cast<std::size_t>(std::min<std::uint64_t>(block_size, nbytes - done));
            digest.update({base + done, n});
        }
        return digest.hex_digest();
    }

    // Dimensions of size 1 do not move the walk; drop them.
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> stride;
    for (std::size_t d = 0; d < view.dim(); ++d) {
        if (view.shape()[d] == 1) continue;
        shape.push_back(view.shape()[d]);
        stride.push_back(view.strides()[d]);
    }
    const std::size_t n = shape.size();
    const auto element = static_cast<std::ptrdiff_t>(view.element_size());

    // A transposed tail (last dimension strided, the one before it contiguous): gather bands
    // of rows along memory instead of one element per column step.
    const band_function band = band_for(view.element_size());
    if (n >= 2 && stride[n - 1] != 1 && stride[n - 2] == 1 && band != nullptr) {
        const std::int64_t rows = shape[n - 2];
        const std::int64_t cols = shape[n - 1];
        const std::int64_t row_bytes = cols * element;
        const std::int64_t band_rows =
            std::clamp<std::int64_t>(static_cast<std::int64_t>(band_size) / row_bytes, 1, rows);
        std::vector<std::byte> buffer(static_cast<std::size_t>(band_rows * row_bytes));
        const std::ptrdiff_t column_step = static_cast<std::ptrdiff_t>(stride[n - 1]) * element;
        for_each_offset(shape, stride, n - 2, [&](std::int64_t offset) {
            const std::byte* matrix = base + static_cast<std::ptrdiff_t>(offset) * element;
            for (std::int64_t i = 0; i < rows; i += band_rows) {
                const std::int64_t count = std::min(band_rows, rows - i);
                band(buffer.data(), matrix + static_cast<std::ptrdiff_t>(i) * element, count, cols,
                     column_step);
                digest.update({buffer.data(), static_cast<std::size_t>(count * row_bytes)});
            }
        });
        return digest.hex_digest();
    }

    // Otherwise the innermost dimensions that are contiguous together form one run, and the
    // walk copies one run per index of the others.
    std::int64_t run = 1;
    std::size_t k = n;
    while (k > 0 && stride[k - 1] == run) {
        run *= shape[k - 1];
        --k;
    }
    const auto run_bytes = static_cast<std::size_t>(run * element);
    gatherer out(digest);
    if (k == 0) {
        out.add(base, run_bytes);
    } else {
        const std::int64_t inner_count = shape[k - 1];
        const std::ptrdiff_t inner_step = static_cast<std::ptrdiff_t>(stride[k - 1]) * element;
        for_each_offset(shape, stride, k - 1, [&](std::int64_t offset) {
            const std::byte* row = base + static_cast<std::ptrdiff_t>(offset) * element;
            for (std::int64_t i = 0; i < inner_count; ++i)
                out.add(row + static_cast<std::ptrdiff_t>(i) * inner_step, run_bytes);
        });
    }
    out.flush();
    return digest.hex_digest();
}

std::string resolved_sha256(const ptio::tensor& tensor) {
    std::vector<std::byte> elements = tensor.view().to_contiguous();
    ptio::resolve_conj_neg(elements, tensor.dtype(), tensor.is_conj(), tensor.is_neg());
    sha256 digest;
    digest.update(elements);
    return digest.hex_digest();
}

}  // namespace ptio_cli
