// core/text_pool — texts and runs of string_views that never move, for names a checkpoint
// hands out as views.
//
// Everything is appended into blocks the pool owns; nothing is freed before the pool, and a
// move keeps every address (the blocks move, not their bytes). Blocks start small and double
// to a cap, so a checkpoint with a few names pays a few kilobytes and one with 100,000 pays
// about its names' bytes; a request larger than a quarter of the block gets a block of its
// own. Not thread-safe while appended to; reading what it handed out is safe from any thread.
// Throws only std::bad_alloc.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace ptio::detail {

class text_pool {
public:
    text_pool() = default;
    text_pool(text_pool&&) noexcept = default;
    text_pool& operator=(text_pool&&) noexcept = default;
    text_pool(const text_pool&) = delete;
    text_pool& operator=(const text_pool&) = delete;

    /// A copy of `text` that lives as long as the pool.
    [[nodiscard]] std::string_view keep(std::string_view text) {
        if (text.empty()) return {};
        char* at = reinterpret_cast<char*>(room(text.size(), 1));
        std::memcpy(at, text.data(), text.size());
        return {at, text.size()};
    }

    /// `parts` joined with `sep`, kept.
    [[nodiscard]] std::string_view keep_joined(std::span<const std::string_view> parts, char sep) {
        if (parts.empty()) return {};
        std::size_t size = parts.size() - 1;
        for (const auto p : parts) size += p.size();
        if (size == 0) return {};
        char* const start = reinterpret_cast<char*>(room(size, 1));
        char* at = start;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            if (i) *at++ = sep;
            if (!parts[i].empty()) std::memcpy(at, parts[i].data(), parts[i].size());
            at += parts[i].size();
        }
        return {start, size};
    }

    /// A copy of the views themselves (not of the texts they see, which must outlive the pool).
    [[nodiscard]] std::span<const std::string_view> keep_views(std::span<const std::string_view> views) {
        if (views.empty()) return {};
        auto* at = reinterpret_cast<std::string_view*>(
            room(views.size() * sizeof(std::string_view), alignof(std::string_view)));
        std::uninitialized_copy(views.begin(), views.end(), at);
        return {at, views.size()};
    }

    /// Bytes of the blocks held.
    [[nodiscard]] std::size_t bytes() const noexcept { return held_; }

private:
    static constexpr std::size_t first_block = std::size_t{2} << 10;
    static constexpr std::size_t max_block = std::size_t{256} << 10;

    std::byte* room(std::size_t n, std::size_t align) {
        const std::size_t pad = (align - reinterpret_cast<std::uintptr_t>(at_) % align) % align;
        if (at_ != nullptr && pad + n <= left_) {
            std::byte* out = at_ + pad;
            at_ = out + n;
            left_ -= pad + n;
            return out;
        }
        if (n > next_ / 4) {  // a block of its own; the current one stays open
            blocks_.reserve(blocks_.size() + 1);
            blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(n));
            held_ += n;
            return blocks_.back().get();
        }
        blocks_.reserve(blocks_.size() + 1);
        blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(next_));  // aligned for any type
        held_ += next_;
        at_ = blocks_.back().get() + n;
        left_ = next_ - n;
        next_ = std::min(next_ * 2, max_block);
        return blocks_.back().get();
    }

    std::vector<std::unique_ptr<std::byte[]>> blocks_;
    std::byte* at_ = nullptr;
    std::size_t left_ = 0;
    std::size_t next_ = first_block;
    std::size_t held_ = 0;
};

}  // namespace ptio::detail
