// node — what a non-inline value points at, and the arena that owns them.
//
// Nodes are created by the unpickler and mutated only while it runs (APPEND, SETITEM,
// BUILD); afterwards the tree is read-only. The arena owns every node for the checkpoint's
// lifetime; values are plain pointers into it, so shared and even cyclic structures cost
// nothing to destroy.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ptio/value.hpp"

namespace ptio::detail {

class storage;

/// Globals the torch layer acts on; set on object nodes at GLOBAL time so REDUCE and NEWOBJ
/// can dispatch without comparing strings.
enum class known : std::uint16_t {
    none,         // any other global: allowlisted or not, it stays an opaque object
    storage_ref,  // not a global: a storage handed out by a persistent id
    // containers and builtins
    ordered_dict, counter, defaultdict, codecs_encode, bytes_, bytearray, set, frozenset,
    // torch values
    torch_size, dtype_global, storage_class, parameter_class,
    // rebuild functions that make tensors
    rebuild_tensor, rebuild_tensor_v2, rebuild_tensor_v3, rebuild_parameter,
    rebuild_parameter_with_state, rebuild_from_type, rebuild_from_type_v2, rebuild_qtensor,
    rebuild_meta_tensor_no_storage,
    // torch.jit._pickle build_intlist & co. and restore_type_tag: typed containers whose
    // value is their first argument
    jit_container,
    // numpy values inside a pickle
    numpy_reconstruct, numpy_array, numpy_dtype, numpy_scalar,
};

struct node {
    node() = default;
    explicit node(kind k) : type(k) {}

    kind type = kind::none;
    value::origin origin = value::origin::global;
    known tag = known::none;
    std::uint16_t aux = 0;               // tag-specific: the dtype of a dtype/storage global
    std::uint32_t depth = 0;             // container nesting below this node, as built
    std::string text;                    // str, bytes, big_integer digits; object: module
    std::span<const std::byte> raw;      // bytes: a span of the pickle itself (large BINBYTES)
    std::string name;                    // object: name; dict: class name
    std::vector<value> items;            // list, tuple, set; object list items
    std::vector<value::entry> entries;   // dict; object dict items
    value args;                          // object: arguments tuple
    value state;                         // object, dict: BUILD state
    const storage* storage_ptr = nullptr;  // storage_ref
    // Key index for large dicts so SETITEM replaces like Python's dict (built lazily).
    // For str, int and big int keys only (the unpickler indexes nothing else).
    struct key_hash {
        std::size_t operator()(const value& k) const noexcept {
            if (k.is(kind::integer)) return std::hash<std::int64_t>{}(k.as_int());
            return std::hash<std::string_view>{}(k.node_ptr()->text) ^ static_cast<std::size_t>(k.type());
        }
    };
    struct key_equal {
        bool operator()(const value& a, const value& b) const noexcept {
            if (a.type() != b.type()) return false;
            if (a.is(kind::integer)) return a.as_int() == b.as_int();
            return a.node_ptr()->text == b.node_ptr()->text;
        }
    };
    std::unique_ptr<std::unordered_map<value, std::size_t, key_hash, key_equal>> index;
};

/// 1 + the nesting below a child: what a container holding it reaches.
inline std::uint32_t depth_through(const value& child) noexcept {
    const auto* n = child.node_ptr();
    return (n ? n->depth : 0) + 1;
}

class arena {
public:
    arena() = default;
    arena(const arena&) = delete;
    arena& operator=(const arena&) = delete;
    ~arena();

    node& make(kind k) {
        if (chunks_.empty() || chunks_.back().used == chunks_.back().capacity) grow();
        chunk& c = chunks_.back();
        node* n = ::new (static_cast<void*>(c.nodes + c.used)) node(k);
        ++c.used;
        ++size_;
        return *n;
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    /// The node behind a value this arena made, for mutation while unpickling.
    static node& mut(const value& v) { return const_cast<node&>(*v.node_ptr()); }

private:
    // A pickle of 100k tensors makes about a million nodes; page faults dominated its open.
    // Chunks double from a small first one (small files stay cheap: a huge page would be
    // zeroed whole for a few nodes) up to 2 MiB, from then on aligned so the kernel may back
    // each with one huge page. Nodes are constructed on use.
    static constexpr std::size_t first_chunk_nodes = 256;
    static constexpr std::size_t big_chunk_bytes = std::size_t{2} << 20;
    struct chunk {
        node* nodes;
        std::size_t used;
        std::size_t capacity;
    };
    void grow();

    std::vector<chunk> chunks_;
    std::size_t size_ = 0;
};

}  // namespace ptio::detail
