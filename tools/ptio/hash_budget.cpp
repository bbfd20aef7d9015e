// tools/ptio/hash_budget.cpp — the allowance of `ls --hash` (see hash_budget.hpp).
#include "hash_budget.hpp"

#include <algorithm>
#include <unordered_map>

#include "ptio/dtype.hpp"

namespace ptio_cli {

namespace {

// Bytes that hold `elements` elements of `type` (packed types hold several per byte).
std::uint64_t bytes_of(ptio::dtype type, std::uint64_t elements) {
    const std::uint64_t per_byte = ptio::elements_per_byte(type);
    if (per_byte > 1) return (elements + per_byte - 1) / per_byte;
    return elements * ptio::element_size(type);
}

// One past the furthest storage byte the view reaches (0 without elements). Open checked
// that every element lies inside the storage, so nothing here overflows.
std::uint64_t reach(const ptio::tensor_view& view) {
    if (view.numel() == 0) return 0;
    auto last = static_cast<std::uint64_t>(view.storage_offset());
    for (std::size_t d = 0; d < view.dim(); ++d)
        last += static_cast<std::uint64_t>(view.shape()[d] - 1) *
                static_cast<std::uint64_t>(view.strides()[d]);
    return bytes_of(view.dtype(), last + 1);
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

}  // namespace

std::vector<std::optional<std::string>> plan_hashes(std::span<const hash_candidate> candidates,
                                                    std::uint64_t max_hash_bytes) {
    std::unordered_map<std::string_view, std::uint64_t> storage_size;
    for (const auto& c : candidates) {
        const ptio::tensor_view& view = c.tensor->view();
        if (!view.has_data()) continue;
        auto& size = storage_size[c.storage_id];
        size = std::max(size, reach(view));
    }
    std::uint64_t held = 0;
    for (const auto& [id, size] : storage_size) held = saturating_add(held, size);
    const std::uint64_t allowed = saturating_add(held, max_hash_bytes);

    std::vector<std::optional<std::string>> refusals(candidates.size());
    std::uint64_t spent = 0;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const ptio::tensor_view& view = candidates[i].tensor->view();
        if (!view.has_data()) continue;
        const std::uint64_t cost = view.nbytes();
        if (cost <= allowed - spent) {
            spent += cost;
            continue;
        }
        refusals[i] = "not hashed: its elements take " + std::to_string(cost) +
                      " bytes, and the digests may read only the " + std::to_string(held) +
                      " bytes the storages hold plus --max-hash-bytes " +
                      std::to_string(max_hash_bytes) + " (" + std::to_string(allowed - spent) +
                      " left): a view that repeats elements (expand, a stride of 0) spends "
                      "that allowance; raise --max-hash-bytes to hash it";
    }
    return refusals;
}

}  // namespace ptio_cli
