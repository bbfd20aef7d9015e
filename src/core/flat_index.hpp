// core/flat_index — finds an element of the caller's array by a key it holds, in 8 bytes a
// slot.
//
// An open-addressing table of positions (u32) into an array the caller owns and only appends
// to, each with 32 bits of its key's hash. The table keeps no keys: the caller compares the
// element at a position, so an index over 100,000 names costs 8 to 16 bytes a name (the
// table stays at most half full) instead of a node-based map's 40 and more, and a lookup
// compares one key in the usual case. hash_text hashes every byte (names
// in checkpoints share long prefixes), 8 at a time, from a per-process seed. Not thread-safe while it is added to;
// find() on a table no one changes is safe from many threads. Throws only std::bad_alloc.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string_view>

#include "core/page_array.hpp"

namespace ptio::detail {

/// A seed drawn once per process: the tables index keys a file chose (dict keys, record and
/// tensor names), and a fixed hash would let a small file pick keys that all land in one run
/// of slots, making each insert walk all the others.
[[nodiscard]] inline std::uint64_t hash_seed() noexcept {
    static const std::uint64_t seed = [] {
        std::uint64_t s = 0x9e3779b97f4a7c15ull ^ reinterpret_cast<std::uintptr_t>(&s);
        try {
            std::random_device rd;
            s ^= (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
        } catch (...) {  // no entropy source: the address and the clock still differ per run
            s ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        }
        return s;
    }();
    return seed;
}

[[nodiscard]] inline std::uint64_t hash_text(std::string_view s) noexcept {
    std::uint64_t h = (0xcbf29ce484222325ull ^ hash_seed()) ^ s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    std::uint64_t tail = 0;
    if (s.size() > i) std::memcpy(&tail, s.data() + i, s.size() - i);
    h = (h ^ tail) * 0x100000001b3ull;
    h ^= h >> 32;
    return h * 0x9e3779b97f4a7c15ull;
}

/// Mixes an integer key into a hash.
[[nodiscard]] inline std::uint64_t hash_int(std::uint64_t v) noexcept {
    v ^= hash_seed();
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdull;
    v ^= v >> 33;
    return v * 0x9e3779b97f4a7c15ull;
}

class flat_index {
public:
    static constexpr std::uint32_t empty = UINT32_MAX;

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    /// Bytes a table over `keys` keys takes at most.
    [[nodiscard]] static std::size_t bytes_for(std::size_t keys) noexcept {
        return capacity_for(keys) * 2 * sizeof(std::uint32_t);
    }

    /// The position p of an element whose key hashes to `h` and for which `equal(p)`.
    template <class Equal>
    [[nodiscard]] std::optional<std::uint32_t> find(std::uint64_t h, const Equal& equal) const {
        if (capacity_ == 0) return std::nullopt;
        const std::uint32_t t = tag(h);
        for (std::size_t i = t & (capacity_ - 1);; i = (i + 1) & (capacity_ - 1)) {
            const std::uint32_t p = slots_[i].position;
            if (p == empty) return std::nullopt;
            if (slots_[i].tag == t && equal(p)) return p;
        }
    }

    /// Adds `position` under hash `h` unless an element p with `equal(p)` is there: returns
    /// that p, or nullopt when `position` was added.
    template <class Equal>
    std::optional<std::uint32_t> insert(std::uint64_t h, std::uint32_t position, const Equal& equal) {
        if (2 * (size_ + 1) > capacity_) rehash(capacity_ ? 2 * capacity_ : 16);
        const std::uint32_t t = tag(h);
        std::size_t i = t & (capacity_ - 1);
        for (;; i = (i + 1) & (capacity_ - 1)) {
            const std::uint32_t p = slots_[i].position;
            if (p == empty) break;
            if (slots_[i].tag == t && equal(p)) return p;
        }
        slots_[i] = {position, t};
        ++size_;
        return std::nullopt;
    }

    /// Empty again, its table freed.
    void clear() noexcept {
        slots_ = {};
        capacity_ = 0;
        size_ = 0;
    }

    /// Room for `keys` keys before the next regrowth.
    void reserve(std::size_t keys) {
        if (capacity_for(keys) > capacity_) rehash(capacity_for(keys));
    }

private:
    static std::size_t capacity_for(std::size_t keys) noexcept {
        std::size_t c = 16;
        while (c < 2 * keys) c *= 2;
        return c;
    }
    // The hash folded to 32 bits: it picks the slot (tables stay below 2^32 slots) and,
    // kept, spares most comparisons and every rehash of a key.
    [[nodiscard]] static std::uint32_t tag(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> 32 ^ h); }
    struct slot {
        std::uint32_t position;
        std::uint32_t tag;
    };
    void rehash(std::size_t capacity) {
        page_array<slot> slots(capacity);  // freed when the table regrows: a mapping past 64 KiB
        std::memset(static_cast<void*>(slots.data()), 0xff, capacity * sizeof(slot));
        for (std::size_t j = 0; j < capacity_; ++j) {
            if (slots_[j].position == empty) continue;
            std::size_t i = slots_[j].tag & (capacity - 1);
            while (slots[i].position != empty) i = (i + 1) & (capacity - 1);
            slots[i] = slots_[j];
        }
        slots_ = std::move(slots);
        capacity_ = capacity;
    }

    page_array<slot> slots_;
    std::size_t capacity_ = 0;
    std::size_t size_ = 0;
};

}  // namespace ptio::detail
