// pickle/memo — the unpickler's memo: Python's dict from index to value, capped.
//
// torch's pickles number the memo densely from 0. Dense indices go to blocks (filled in
// order: growing never copies, and a slot is 16 bytes), any other to a map, so a file cannot
// make the blocks huge with a few PUTs. The first block is 16 KiB, the next ones 256 KiB
// mappings of their own (core/page_array): a 100,000-tensor pickle memoizes ~800,000 values,
// and 12 MB freed from the heap would stay resident for the rest of the process. The caller reports failures
// (it knows the opcode's offset): put() returns false past the cap, get() nullptr for an
// index never stored. Owned by one unpickler run; not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/page_array.hpp"
#include "ptio/value.hpp"

namespace ptio::detail::pickle {

class memo {
public:
    /// Room for `expected` dense entries up front (never more than `cap`).
    memo(std::size_t expected, std::uint64_t cap) : cap_(cap) {
        blocks_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(expected, cap)) / block_slots + 2);
    }

    /// memo[idx] = v; false (and nothing stored) when a new key would pass the cap.
    [[nodiscard]] bool put(std::uint64_t idx, const value& v) {
        if (idx < dense_) {  // every dense slot below dense_ was stored
            slot(idx) = v;
            return true;
        }
        if (count_ >= cap_) return false;
        if (idx == dense_ && sparse_.empty()) {
            if (dense_ == 0) blocks_.emplace_back(first_slots);
            else if (dense_ >= first_slots && (dense_ - first_slots) % block_slots == 0) blocks_.emplace_back(block_slots);
            slot(idx) = v;
            ++dense_;
            ++count_;
            return true;
        }
        if (sparse_.insert_or_assign(idx, v).second) ++count_;
        return true;
    }
    /// memo[idx], or nullptr when it was never stored.
    [[nodiscard]] const value* get(std::uint64_t idx) const {
        if (idx < dense_) {
            const auto [block, at] = where(idx);
            return &blocks_[block][at];
        }
        if (auto it = sparse_.find(idx); it != sparse_.end()) return &it->second;
        return nullptr;
    }
    /// Distinct keys stored: Python's len(memo), the index MEMOIZE uses.
    [[nodiscard]] std::uint64_t size() const noexcept { return count_; }

private:
    static constexpr std::size_t first_slots = 1024;
    static constexpr std::size_t block_slots = 16384;
    // The block a dense index lives in, and its place there.
    static std::pair<std::size_t, std::size_t> where(std::uint64_t idx) noexcept {
        if (idx < first_slots) return {0, static_cast<std::size_t>(idx)};
        const std::uint64_t rest = idx - first_slots;
        return {static_cast<std::size_t>(1 + rest / block_slots), static_cast<std::size_t>(rest % block_slots)};
    }
    value& slot(std::uint64_t idx) {
        const auto [block, at] = where(idx);
        return blocks_[block][at];
    }

    std::uint64_t cap_;
    std::vector<page_array<value>> blocks_;
    std::uint64_t dense_ = 0;  // slots 0 … dense_-1, all stored
    std::unordered_map<std::uint64_t, value> sparse_;
    std::uint64_t count_ = 0;
};

}  // namespace ptio::detail::pickle
