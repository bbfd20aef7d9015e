// tools/ptio/sha256.cpp
#include "sha256.hpp"

#include <openssl/evp.h>

#include <span>
#include <stdexcept>
#include <vector>

#include "text.hpp"

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
    std::string out;
    append_hex(out, std::as_bytes(std::span(digest, length)));
    return out;
}

namespace {
constexpr std::size_t block_size = std::size_t{1} << 20;  // bytes per digest update
}  // namespace

std::string tensor_sha256(const ptio::tensor_view& view) {
    sha256 digest;
    view.for_each_chunk(block_size,
                        [&](std::span<const std::byte> bytes) { digest.update(bytes); });
    return digest.hex_digest();
}

std::string resolved_sha256(const ptio::tensor& tensor) {
    // Pieces need not end on an element (a deflated record streams as it inflates): whole
    // elements are gathered into `pending`, resolved and hashed block by block.
    const ptio::tensor_view& view = tensor.view();
    const std::size_t es = view.element_size();
    std::vector<std::byte> pending;
    pending.reserve(block_size + es);
    sha256 digest;
    const auto drain = [&](std::size_t whole) {
        ptio::resolve_conj_neg(std::span(pending).first(whole), tensor.dtype(), tensor.is_conj(),
                               tensor.is_neg());
        digest.update(std::span(pending).first(whole));
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(whole));
    };
    view.for_each_chunk(block_size, [&](std::span<const std::byte> bytes) {
        pending.insert(pending.end(), bytes.begin(), bytes.end());
        if (pending.size() >= block_size) drain(pending.size() / es * es);
    });
    drain(pending.size());  // the view's bytes are whole elements
    return digest.hex_digest();
}

}  // namespace ptio_cli
