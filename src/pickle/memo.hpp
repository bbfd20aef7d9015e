// pickle/memo — the unpickler's memo: Python's dict from index to value, capped.
//
// torch's pickles number the memo densely from 0. Dense indices go to a vector, any other to
// a map, so a file cannot make the vector huge with a few PUTs. The caller reports failures
// (it knows the opcode's offset): put() returns false past the cap, get() nullptr for an
// index never stored. Owned by one unpickler run; not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ptio/value.hpp"

namespace ptio::detail::pickle {

class memo {
public:
    /// Room for `expected` dense entries up front (never more than `cap`).
    memo(std::size_t expected, std::uint64_t cap) : cap_(cap) {
        dense_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(expected, cap)));
    }

    /// memo[idx] = v; false (and nothing stored) when a new key would pass the cap.
    [[nodiscard]] bool put(std::uint64_t idx, const value& v) {
        if (idx < dense_.size()) {
            auto& slot = dense_[static_cast<std::size_t>(idx)];
            if (!slot.second) ++count_;
            slot = {v, true};
            return true;
        }
        if (count_ >= cap_) return false;
        if (idx == dense_.size() && sparse_.empty()) {
            dense_.emplace_back(v, true);
            ++count_;
            return true;
        }
        if (sparse_.insert_or_assign(idx, v).second) ++count_;
        return true;
    }
    /// memo[idx], or nullptr when it was never stored.
    [[nodiscard]] const value* get(std::uint64_t idx) const {
        if (idx < dense_.size() && dense_[static_cast<std::size_t>(idx)].second)
            return &dense_[static_cast<std::size_t>(idx)].first;
        if (auto it = sparse_.find(idx); it != sparse_.end()) return &it->second;
        return nullptr;
    }
    /// Distinct keys stored: Python's len(memo), the index MEMOIZE uses.
    [[nodiscard]] std::uint64_t size() const noexcept { return count_; }

private:
    std::uint64_t cap_;
    std::vector<std::pair<value, bool>> dense_;
    std::unordered_map<std::uint64_t, value> sparse_;
    std::uint64_t count_ = 0;
};

}  // namespace ptio::detail::pickle
