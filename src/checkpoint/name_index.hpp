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
#include <unordered_map>

#include "ptio/checkpoint.hpp"

namespace ptio::detail {

class name_index {
public:
    /// Indexes `listed`, if not done yet; every call must pass the same listing.
    void build(std::span<const named_tensor> listed) const {
        std::call_once(once_, [&] {
            by_name_.reserve(listed.size());
            for (std::size_t i = 0; i < listed.size(); ++i) by_name_.emplace(listed[i].name, i);
        });
    }

    /// The position in the listing of the entry named `name`, if any. Only after build().
    [[nodiscard]] std::optional<std::size_t> position(std::string_view name) const noexcept {
        const auto it = by_name_.find(name);
        if (it == by_name_.end()) return std::nullopt;
        return it->second;
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
    mutable std::unordered_map<std::string_view, std::size_t> by_name_;
};

}  // namespace ptio::detail
