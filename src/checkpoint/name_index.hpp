// name_index — finds a listed tensor by its name.
//
// Views the names of a listing it does not own: the listing must outlive the index and never
// change its size. Built once (std::call_once) on the first find() or by build(); an index
// whose build threw (out of memory) builds again on the next call. A name listed twice finds
// its first entry. Thread-safety: find() and build() may be called from many threads at once.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>

#include "core/flat_index.hpp"
#include "ptio/checkpoint.hpp"

namespace ptio::detail {

class name_index {
public:
    /// Indexes `listed`, if not done yet; every call must pass the same listing.
    void build(std::span<const named_tensor> listed) const {
        std::call_once(once_, [&] {
            listed_ = listed;
            by_name_.reserve(listed.size());
            for (std::size_t i = 0; i < listed.size(); ++i) {
                const std::string_view name = listed[i].name;
                (void)by_name_.insert(hash_text(name), static_cast<std::uint32_t>(i),
                                      [&](std::uint32_t p) { return listed[p].name == name; });
            }
        });
    }

    /// The position in the listing of the entry named `name`, if any. Only after build().
    [[nodiscard]] std::optional<std::size_t> position(std::string_view name) const noexcept {
        const auto at = by_name_.find(hash_text(name), [&](std::uint32_t p) { return listed_[p].name == name; });
        if (!at) return std::nullopt;
        return *at;
    }

    /// The entry of `listed` named `name`, or nullptr.
    [[nodiscard]] const named_tensor* find(std::span<const named_tensor> listed,
                                           std::string_view name) const {
        build(listed);
        const auto at = position(name);
        return at ? &listed[*at] : nullptr;
    }

private:
    mutable std::once_flag once_;
    mutable std::span<const named_tensor> listed_;
    mutable flat_index by_name_;  // positions in listed_ by name
};

}  // namespace ptio::detail
