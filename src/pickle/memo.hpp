// pickle/memo — the unpickler's memo: Python's dict from index to value, capped.
//
// torch's pickles number the memo densely from 0. Dense indices go to blocks of 4096 slots
// (filled in order: growing never copies, and a slot is 16 bytes), any other to a map, so a
// file cannot make the blocks huge with a few PUTs. The caller reports failures
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

#include "ptio/value.hpp"

namespace ptio::detail::pickle {

class memo {
public:
    /// Room for `expected` dense entries up front (never more than `cap`).
    memo(std::size_t expected, std::uint64_t cap) : cap_(cap) {
        blocks_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(expected, cap)) / block_slots + 1);
    }

    /// memo[idx] = v; false (and nothing stored) when a new key would pass the cap.
    [[nodiscard]] bool put(std::uint64_t idx, const value& v) {
        if (idx < dense_) {  // every dense slot below dense_ was stored
            slot(idx) = v;
            return true;
        }
        if (count_ >= cap_) return false;
        if (idx == dense_ && sparse_.empty()) {
            if (dense_ % block_slots == 0) blocks_.push_back(std::make_unique_for_overwrite<value[]>(block_slots));
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
        if (idx < dense_) return &blocks_[static_cast<std::size_t>(idx / block_slots)][idx % block_slots];
        if (auto it = sparse_.find(idx); it != sparse_.end()) return &it->second;
        return nullptr;
    }
    /// Distinct keys stored: Python's len(memo), the index MEMOIZE uses.
    [[nodiscard]] std::uint64_t size() const noexcept { return count_; }

private:
    static constexpr std::size_t block_slots = 4096;
    value& slot(std::uint64_t idx) { return blocks_[static_cast<std::size_t>(idx / block_slots)][idx % block_slots]; }

    std::uint64_t cap_;
    std::vector<std::unique_ptr<value[]>> blocks_;
    std::uint64_t dense_ = 0;  // slots 0 … dense_-1, all stored
    std::unordered_map<std::uint64_t, value> sparse_;
    std::uint64_t count_ = 0;
};

}  // namespace ptio::detail::pickle
