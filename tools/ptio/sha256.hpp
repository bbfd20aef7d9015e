// tools/ptio/sha256.hpp — SHA-256 of a tensor's elements (OpenSSL's EVP interface).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "ptio/tensor.hpp"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace ptio_cli {

/// An incremental SHA-256. Throws std::runtime_error if OpenSSL fails.
class sha256 {
public:
    sha256();
    sha256(sha256&&) noexcept;
    sha256& operator=(sha256&&) noexcept;
    ~sha256();

    void update(std::span<const std::byte> bytes);
    /// The digest as 64 lowercase hex digits; the object must not be used afterwards.
    [[nodiscard]] std::string hex_digest();

private:
    struct context_deleter {
        void operator()(evp_md_ctx_st* ctx) const noexcept;
    };
    std::unique_ptr<evp_md_ctx_st, context_deleter> ctx_;
};

/// The digest of the view's elements in row-major order, each element's raw bytes — for a
/// non-contiguous view the elements it shows, not its storage. Reads through
/// tensor_view::for_each_chunk: a contiguous view straight from its bytes, any other in
/// bounded blocks. The view must have data. Throws ptio::error if its bytes cannot be read.
[[nodiscard]] std::string tensor_sha256(const ptio::tensor_view& view);

/// The digest of the values torch shows for a lazily conjugated or negated tensor: the
/// elements are read as tensor_sha256 reads them and resolved with ptio::resolve_conj_neg a
/// block at a time, so memory stays one block whatever the tensor's size.
[[nodiscard]] std::string resolved_sha256(const ptio::tensor& tensor);

}  // namespace ptio_cli
