// fuzz_support — what every libFuzzer target here does with a checkpoint that opened: read
// each tensor's bytes (copy_to, and the chunked walk `ls --hash` uses), name the state_dict,
// walk the root, verify. Shared so that each parser's target exercises the same consumers.
//
// The contract under test: a ptio::error or success, never a crash, a sanitizer report, a
// hang or an out-of-memory. Views past `max_view_bytes` are skipped: their cost is the caps'
// business (tested elsewhere), not a finding. Test code only; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ptio/ptio.hpp>
#include <span>
#include <unordered_set>
#include <vector>

namespace ptio_fuzz {

inline constexpr std::uint64_t max_view_bytes = std::uint64_t{16} << 20;

/// The bytes fuzzers hand to ptio, as ptio wants them.
[[nodiscard]] inline std::span<const std::byte> bytes_of(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const std::byte*>(data), size};
}

/// A checksum of the view's row-major bytes through for_each_chunk, so a disagreement with
/// copy_to is a finding.
[[nodiscard]] inline std::uint64_t chunked_sum(const ptio::tensor_view& v) {
    std::uint64_t sum = 0, at = 0;
    v.for_each_chunk(4096, [&](std::span<const std::byte> piece) {
        for (const std::byte b : piece) sum += static_cast<std::uint64_t>(b) * (++at);
    });
    return sum;
}

[[nodiscard]] inline std::uint64_t plain_sum(std::span<const std::byte> bytes) {
    std::uint64_t sum = 0, at = 0;
    for (const std::byte b : bytes) sum += static_cast<std::uint64_t>(b) * (++at);
    return sum;
}

/// Every value reachable from `v`, each shared container once (a pickle's memo makes DAGs
/// whose paths grow as 2^depth; walking them per path would be the harness's hang, not
/// ptio's). Values nested past 200 levels are not walked: the caps bound depth.
inline void walk(const ptio::value& v, std::unordered_set<const void*>& seen, std::size_t depth = 0) {
    if (depth > 200) return;
    (void)v.type();
    if (const void* id = v.identity(); id != nullptr && !seen.insert(id).second) return;
    if (v.is(ptio::kind::list) || v.is(ptio::kind::tuple) || v.is(ptio::kind::set))
        for (const auto& item : v.items()) walk(item, seen, depth + 1);
    if (v.is(ptio::kind::dict) || v.is(ptio::kind::object))
        for (const auto& [k, val] : v.entries()) {
            walk(k, seen, depth + 1);
            walk(val, seen, depth + 1);
        }
}
inline void walk(const ptio::value& v) {
    std::unordered_set<const void*> seen;
    walk(v, seen);
}

/// Everything a consumer does with an open checkpoint; throws what ptio throws. A copy that
/// disagrees with the chunked walk aborts (a finding).
inline void exercise(const ptio::checkpoint& ck) {
    for (const auto& t : ck.tensors()) {
        const auto& v = t.tensor->view();
        if (!v.has_data() || v.nbytes() > max_view_bytes) continue;
        std::vector<std::byte> out(static_cast<std::size_t>(v.nbytes()));
        v.copy_to(out);
        if (plain_sum(out) != chunked_sum(v)) __builtin_trap();
    }
    (void)ck.state_dict();
    walk(ck.root());
    (void)ck.verify(nullptr);
}

}  // namespace ptio_fuzz
