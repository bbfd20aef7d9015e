// tools/ptio/repr_group.hpp — the object tree as repr.cpp lays it out: every container (and
// every object with parts) is a `group` of elements between an opening and a closing text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ptio/value.hpp"

namespace ptio_cli::repr_detail {

using ptio::value;

// One element of a group: a value, `key: value`, a `(key, value)` pair, or a labelled list
// or dict (an object's `items=[…]`, `entries={…}`).
struct element {
    enum class form : std::uint8_t { plain, keyed, pair, list, dict };
    form shape = form::plain;
    std::string_view label = {};
    const value* key = nullptr;
    const value* val = nullptr;
    std::span<const value> items = {};
    std::span<const value::entry> entries = {};
};

// A bracketed sequence: a container, an object's parts, or a synthetic pair, list or dict.
struct group {
    enum class source : std::uint8_t { items, entries, pairs, pair, object };
    source from = source::items;
    std::string open;
    std::string_view close;
    std::string empty;
    std::string_view ellipsis = "...";
    bool one_comma = false;      // "(1,)"
    const void* node = nullptr;  // nullptr for synthetic groups
    std::span<const value> items;
    std::span<const value::entry> entries;
    const value* pair_key = nullptr;
    const value* pair_val = nullptr;
    // An object's parts after its argument items.
    value args;  // arguments that are not a tuple (hostile files)
    value state;
    std::span<const value> extra_items;
    std::span<const value::entry> extra_entries;
    std::size_t count = 0;

    /// Element i (< count).
    [[nodiscard]] element at(std::size_t i) const;
};

/// True for the values printed as a group (containers, objects with arguments or state).
[[nodiscard]] bool is_group(const value& v);
/// The group of a value for which is_group is true.
[[nodiscard]] group make_group(const value& v);
/// The group of a pair, list or dict element.
[[nodiscard]] group sub_group(const element& e);
/// Bytes a leaf's text takes at least (strings and bytes can be large; others 0).
[[nodiscard]] std::size_t leaf_size(const value& v);
/// Appends a value that is not a group.
void append_leaf(std::string& out, const value& v);

}  // namespace ptio_cli::repr_detail
