// tools/ptio/hash_budget.hpp — which tensors `ls --hash` may hash, decided before any byte
// is read, so a small file cannot make the digests run for hours.
//
// A digest reads every element a view shows. A view that shows no element twice reads at
// most the bytes of its storage, which the file holds (or inflates to, within deflate's
// ratio); one that repeats elements (expand(), a stride of 0, overlapping strides) can show
// 2^40 elements of a 4-byte storage. So the digests together may read the bytes the file's
// storages hold plus an allowance, --max-hash-bytes: tensors are admitted in listing order
// while they fit, and the rest are refused with the reason. A storage's size is taken as the
// furthest byte its views reach (the CLI cannot see the record without reading it).
//
// Pure computation on the views' geometry; thread-safe; throws only std::bad_alloc.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ptio/tensor.hpp"

namespace ptio_cli {

/// The default --max-hash-bytes: 1 GiB, about a second of hashing.
inline constexpr std::uint64_t default_max_hash_bytes = std::uint64_t{1} << 30;

/// One tensor to hash and the identity of its storage (its key, with its shard in a sharded
/// checkpoint, where keys restart).
struct hash_candidate {
    const ptio::tensor* tensor = nullptr;
    std::string storage_id;
};

/// For each candidate, in order: nullopt to hash it, or why it is not hashed (naming the
/// allowance and the option that raises it). Tensors without data are admitted (they cost
/// nothing; the caller skips them).
[[nodiscard]] std::vector<std::optional<std::string>> plan_hashes(
    std::span<const hash_candidate> candidates, std::uint64_t max_hash_bytes);

}  // namespace ptio_cli
