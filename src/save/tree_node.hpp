// tree_node — what a ptio::tree handle points to (tree.hpp), and tree_access, the one way the
// library's own code reaches a tree's node or a storage_ref's storage (the public classes keep
// both private). Shared by the tree builder, the tree pickler and the device tensor's adapter.
//
// Ownership: nodes are shared by every handle to them; a save_storage is shared by every
// tensor made from it. Not synchronised, as tree.hpp says.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ptio/dtype.hpp"
#include "ptio/error.hpp"
#include "ptio/tree.hpp"
#include "ptio/value.hpp"

namespace ptio::detail {

class storage;

/// Fills `out` (exactly the storage's nbytes) with its bytes, at save time: how a storage
/// that lives elsewhere (a device's memory) reaches the file without the saver knowing where.
/// Throws whatever reading it throws.
using storage_reader = std::function<void(std::span<std::byte> out)>;

/// One storage to write. Two save_storages with the same identity are one storage in the
/// file (a checkpoint's storage, a device allocation, or the save_storage itself). Its bytes
/// come from the first of: `checkpoint`, `read`, `borrowed`.
struct save_storage {
    const void* identity = nullptr;
    std::uint64_t nbytes = 0;
    std::string location = "cpu";
    std::span<const std::byte> borrowed;          // caller bytes
    std::vector<std::byte> owned;                 // bytes taken over
    const detail::storage* checkpoint = nullptr;  // read at save time
    storage_reader read;                          // called at save time
};

enum class dict_class : std::uint8_t { dict, ordered_dict, counter, defaultdict };

struct tree_node {
    kind type = kind::none;
    bool b = false;
    std::int64_t i = 0;
    double f = 0;
    std::string text;  // str (UTF-8), bytes, big int (two's complement little-endian)
    bool bytearray = false;
    bool frozen = false;
    dict_class dict = dict_class::dict;
    std::vector<tree> items;                   // list, tuple, set; an object's APPENDs
    std::vector<std::pair<tree, tree>> entries;  // dict; an object's SETITEMs
    // dict: where each str key sits in entries, so set() stays O(1) on large state_dicts.
    // Built by the first set(); anything else that edits the keys drops it.
    std::unordered_map<std::string, std::size_t> str_keys;
    bool str_keys_valid = false;
    std::shared_ptr<tree_node> state;          // BUILD after the items, or null

    // object
    std::string module, name;
    value::origin origin = value::origin::global;
    std::shared_ptr<tree_node> args;  // a tuple, or null for a bare global
    std::string source;               // where the file it came from names it, or ""

    // tensor
    std::shared_ptr<const save_storage> storage;  // null: meta (no data)
    dtype elem = dtype::float32;
    std::vector<std::int64_t> shape, strides;
    std::int64_t offset = 0;
    bool requires_grad = false;
    bool parameter = false;
    bool conj = false, neg = false;
    bool storage_only = false;  // written as the storage alone (torch.load gives a storage)

    // A reference back to a container that holds this node (a cycle a loaded pickle built
    // through its memo: a scheduler whose bound method holds the scheduler). It does not own
    // its target, so the tree stays a tree to shared_ptr; its kind is none to every reader
    // but the pickler, which writes it as a memo get of the target, made by then. Its text
    // says where it sits, for the pickler's refusal.
    bool back_ref = false;
    std::weak_ptr<tree_node> back;
};

/// The private parts of tree and storage_ref, for the library's code only.
struct tree_access {
    [[nodiscard]] static const tree_node& node(const tree& t) noexcept { return *t.node_; }
    [[nodiscard]] static const std::shared_ptr<tree_node>& handle(const tree& t) noexcept {
        return t.node_;
    }
    [[nodiscard]] static const std::shared_ptr<const save_storage>& storage(const storage_ref& s) noexcept {
        return s.s_;
    }
};

/// A fresh node of kind `k`, with every other field at its default.
[[nodiscard]] inline std::shared_ptr<tree_node> make_node(kind k) {
    auto n = std::make_shared<tree_node>();
    n->type = k;
    return n;
}

/// What building or saving a tree throws when the caller asked for something it cannot be.
[[noreturn]] inline void invalid_tree(const std::string& what) {
    throw error(errc::invalid_argument, what);
}

/// A tree's node, read-only (the pickler's walk).
[[nodiscard]] inline const tree_node& node_of(const tree& t) noexcept { return tree_access::node(t); }

}  // namespace ptio::detail
