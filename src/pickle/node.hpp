// node — what a non-inline value points at, and the arena that owns them.
//
// Nodes are created by the unpickler and its resolver, and changed only while the checkpoint
// opens: APPEND, SETITEM and BUILD while unpickling, the tensor walk's in-place replacements
// after. Changing one takes arena::mut, so only the code holding the arena (the checkpoint's
// builder) can; afterwards the tree is read-only and safe to read from many threads. The
// arena owns every node for the checkpoint's lifetime; values are plain pointers into it, so
// shared and even cyclic structures cost nothing to destroy. Not thread-safe while building.
//
// The arena also keeps the tree's budget (nodes, and bytes of metadata its users charge
// before they allocate), so a small file cannot grow the tree without bound: past the
// budget, make() and charge() throw over_budget, a ptio::error the unpickler re-throws
// naming the opcode's offset.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pickle/value_access.hpp"
#include "ptio/error.hpp"
#include "ptio/value.hpp"

namespace ptio::detail {

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
    rebuild_meta_tensor_no_storage, rebuild_device_tensor_from_numpy,
    // torch.Tensor and the legacy typed classes (torch.FloatTensor …): old torch pickled a
    // tensor as a REDUCE of the class with no arguments, then BUILD with its state; the call
    // node carries the tag too, and a BUILD that makes it a tensor keeps it as its state
    tensor_class,
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
    std::uint32_t storage_index = 0;     // storage_ref: its place in the checkpoint's storages
    std::string text;                    // str, bytes, big_integer digits; object: module
    std::span<const std::byte> raw;      // bytes: a span of the pickle itself (large BINBYTES)
    std::string name;                    // object: name; dict: class name
    std::vector<value> items;            // list, tuple, set; object list items
    std::vector<value::entry> entries;   // dict; object dict items
    value args;                          // object: arguments tuple
    value state;                         // object, dict: BUILD state
    // Key index for large dicts so SETITEM replaces like Python's dict (built lazily).
    // For str, int and big int keys only (the unpickler indexes nothing else).
    struct key_hash {
        std::size_t operator()(const value& k) const noexcept {
            if (k.is(kind::integer)) return std::hash<std::int64_t>{}(k.as_int());
            return std::hash<std::string_view>{}(value_access::node_of(k)->text) ^
                   static_cast<std::size_t>(k.type());
        }
    };
    struct key_equal {
        bool operator()(const value& a, const value& b) const noexcept {
            if (a.type() != b.type()) return false;
            if (a.is(kind::integer)) return a.as_int() == b.as_int();
            return value_access::node_of(a)->text == value_access::node_of(b)->text;
        }
    };
    std::unique_ptr<std::unordered_map<value, std::size_t, key_hash, key_equal>> index;
};

/// 1 + the nesting below a child: what a container holding it reaches.
inline std::uint32_t depth_through(const value& child) noexcept {
    const auto* n = value_access::node_of(child);
    return (n ? n->depth : 0) + 1;
}

/// What a tree may cost in all, and the words that say which cap and how to raise it.
struct arena_budget {
    std::string file;  ///< named in the error
    std::size_t max_nodes = SIZE_MAX;
    std::uint64_t max_bytes = UINT64_MAX;
    std::string bytes_cap;  ///< "N bytes (…; raise ptio::limits::…)", for the message
};

/// Thrown past an arena's budget: errc::limit_exceeded with the file and no offset (the
/// unpickler, which knows the opcode, re-throws it with one).
class over_budget : public error {
public:
    using error::error;
};

class arena {
public:
    arena() = default;
    arena(const arena&) = delete;
    arena& operator=(const arena&) = delete;
    ~arena();

    /// A new node, for its maker to fill in before handing out values of it.
    node& make(kind k) {
        if (size_ >= budget_.max_nodes) over_nodes();
        charge(sizeof(node));
        if (chunks_.empty() || chunks_.back().used == chunks_.back().capacity) grow();
        chunk& c = chunks_.back();
        node* n = ::new (static_cast<void*>(c.nodes + c.used)) node(k);
        ++c.used;
        ++size_;
        return *n;
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    /// The budget from now on (what was charged already counts against it).
    void set_budget(arena_budget b) { budget_ = std::move(b); }
    /// Counts `bytes` its caller is about to allocate for the tree (string text, item slots,
    /// memo and stack slots, tensor metadata); throws over_budget when they would pass it.
    void charge(std::uint64_t bytes) {
        if (bytes > budget_.max_bytes - std::min(charged_, budget_.max_bytes)) over_bytes(bytes);
        charged_ += bytes;
    }
    /// charge(count × each), overflow-checked.
    void charge(std::uint64_t count, std::uint64_t each) {
        if (each != 0 && count > UINT64_MAX / each) over_bytes(UINT64_MAX);
        charge(count * each);
    }
    [[nodiscard]] std::uint64_t charged() const noexcept { return charged_; }

    /// The node behind `v`, which this arena made, to change while the checkpoint opens.
    /// A value of another arena (or an inline one) is a broken invariant: it aborts.
    [[nodiscard]] node& mut(const value& v);

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
    [[noreturn]] void over_nodes() const;
    [[noreturn]] void over_bytes(std::uint64_t wanted) const;
    [[nodiscard]] static bool holds(const chunk& c, const node* n) noexcept;

    std::vector<chunk> chunks_;
    std::vector<std::size_t> by_address_;  // chunk indices, by start address (for mut)
    std::size_t hint_ = 0;                 // the chunk mut found last
    std::size_t size_ = 0;
    arena_budget budget_;
    std::uint64_t charged_ = 0;
};

}  // namespace ptio::detail

namespace ptio::detail::pickle {

/// New nodes of the usual kinds, for the unpickler and its resolvers.
value make_string(arena& nodes, std::string text, kind k = kind::string);
value make_tuple(arena& nodes, std::vector<value> items);
/// An object "module.name"; `n` is left for the caller to tag.
node& make_object_node(arena& nodes, std::string_view module, std::string_view name,
                       value::origin origin, value args = {});
value make_object(arena& nodes, std::string_view module, std::string_view name,
                  value::origin origin, value args = {});

/// `dict[k] = v` as Python's dict does it: a key already present keeps its place and takes
/// the new value. str, int and big int keys are compared (what checkpoints use); any other
/// key is appended.
void set_item(node& dict, const value& k, const value& v);

}  // namespace ptio::detail::pickle
