// node — what a non-inline value points at, and the arena that owns them.
//
// Nodes are created by the unpickler and its resolver, and changed only while the checkpoint
// opens: APPEND, SETITEM and BUILD while unpickling, the tensor walk's in-place replacements
// after. Changing one takes arena::mut, so only the code holding the arena (the checkpoint's
// builder) can; afterwards the tree is read-only and safe to read from many threads. The
// arena owns every node for the checkpoint's lifetime; values are plain pointers into it, so
// shared and even cyclic structures cost nothing to destroy. Once built, compact() keeps
// only what the roots reach (every other value of the arena is then invalid). Nodes, their
// arrays and their text are plain data in the arena's memory: no node allocates on its own.
// Not thread-safe while building.
//
// The arena also keeps the tree's budget (nodes, and bytes of metadata its users charge
// before they allocate), so a small file cannot grow the tree without bound: past the
// budget, make() and charge() throw over_budget, a ptio::error the unpickler re-throws
// naming the opcode's offset.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <span>
#include <type_traits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/flat_index.hpp"
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

/// Text a node shows: a view of bytes that outlive the tree. Those are the pickle itself
/// (mapped, or the inflated copy its checkpoint keeps: a str or bytes literal that needs no
/// decoding is a view of it), string literals, and the arena's text store (arena::keep).
/// 16 bytes, copied freely; never made from a std::string the caller owns.
class node_text {
public:
    constexpr node_text() = default;
    /// A string literal.
    template <std::size_t N>
    constexpr node_text(const char (&literal)[N]) noexcept : p_(literal), n_(N - 1) {}  // NOLINT
    /// Text that outlives the tree (see above).
    [[nodiscard]] static constexpr node_text kept(std::string_view s) noexcept { return node_text(s); }
    [[nodiscard]] static node_text kept(std::span<const std::byte> b) noexcept {
        return node_text({reinterpret_cast<const char*>(b.data()), b.size()});
    }
    constexpr operator std::string_view() const noexcept { return {p_, n_}; }  // NOLINT
    [[nodiscard]] constexpr std::string_view view() const noexcept { return {p_, n_}; }
    [[nodiscard]] constexpr std::size_t size() const noexcept { return n_; }
    [[nodiscard]] constexpr bool empty() const noexcept { return n_ == 0; }
    [[nodiscard]] constexpr const char* data() const noexcept { return p_; }
    friend constexpr bool operator==(const node_text& a, std::string_view b) noexcept { return a.view() == b; }

private:
    constexpr explicit node_text(std::string_view s) noexcept : p_(s.data()), n_(s.size()) {}
    const char* p_ = "";
    std::size_t n_ = 0;
};

/// A node's items or entries: an array in its arena's memory, grown only through the arena
/// (arena::append and friends). 16 bytes; read like a span.
template <class T>
class slots {
public:
    [[nodiscard]] std::size_t size() const noexcept { return n_; }
    [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
    [[nodiscard]] T* begin() noexcept { return p_; }
    [[nodiscard]] T* end() noexcept { return p_ + n_; }
    [[nodiscard]] const T* begin() const noexcept { return p_; }
    [[nodiscard]] const T* end() const noexcept { return p_ + n_; }
    [[nodiscard]] T& operator[](std::size_t i) noexcept { return p_[i]; }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return p_[i]; }
    [[nodiscard]] T& back() noexcept { return p_[n_ - 1]; }
    [[nodiscard]] const T& back() const noexcept { return p_[n_ - 1]; }
    operator std::span<T>() noexcept { return {p_, n_}; }                    // NOLINT
    operator std::span<const T>() const noexcept { return {p_, n_}; }        // NOLINT

private:
    friend class arena;
    T* p_ = nullptr;
    std::uint32_t n_ = 0;
    std::uint32_t cap_ = 0;
};

// A node is plain data (views and arena arrays): the arena copies nodes when it compacts a
// tree and never runs their destructors. A node is only as long as its kind needs (see
// node_bytes): a str is 32 bytes (a dict key of every tensor), a bytes 48, a tuple 64, a
// dict or an object 112; a field past a node's kind is never read or written.
struct node {
    node() = default;
    explicit node(kind k) : type(k) {}

    kind type = kind::none;
    value::origin origin = value::origin::global;
    known tag = known::none;
    std::uint16_t aux = 0;               // tag-specific: the dtype of a dtype/storage global
    bool forwarded = false;              // arena::compact: moved; args holds the new place
    std::uint32_t depth = 0;             // container nesting below this node, as built
    std::uint32_t storage_index = 0;     // storage_ref: its place in the checkpoint's storages
    node_text text;                      // str, bytes (large BINBYTES: the pickle's own bytes),
                                         // big_integer digits; object: "module.name"
    node_text name;                      // object: name (the tail of text); dict, set, bytes,
                                         // tuple: class name (a str or big integer ends before it)
    slots<value> items;                  // list, tuple, set; object list items
    slots<value::entry> entries;         // dict; object dict items
    value args;                          // object: arguments tuple
    value state;                         // object, dict: BUILD state
};
static_assert(std::is_trivially_copyable_v<node> && std::is_trivially_destructible_v<node> &&
              std::is_standard_layout_v<node>);

/// The bytes a node of kind `k` takes: the fields up to the last its kind uses.
[[nodiscard]] constexpr std::size_t node_bytes(kind k) noexcept {
    switch (k) {
        case kind::string: case kind::big_integer: return offsetof(node, name);
        case kind::bytes: return offsetof(node, items);
        case kind::list: case kind::tuple: case kind::set: return offsetof(node, entries);
        default: return sizeof(node);
    }
}

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
        const std::size_t bytes = node_bytes(k);
        charge(bytes);
        void* p = nodes_.take(bytes);
        std::memset(p, 0, bytes);  // every field's empty value is all zero bytes
        auto* n = static_cast<node*>(p);
        n->type = k;
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

    /// A copy of `text` in the arena's text store, which lives as long as the arena (and
    /// survives compact()). The caller charges it.
    [[nodiscard]] node_text keep(std::string_view text);
    /// True when `p` points into the text store.
    [[nodiscard]] bool keeps(const char* p) const noexcept;
    /// Whether the pickle being unpickled may be viewed by the tree: bytes the checkpoint
    /// owns (an inflated copy) may; a mapping may not, as nothing may read a mapping
    /// unguarded after open (the file may shrink), so its text is copied (make_string_view).
    void view_pickle(bool ok) noexcept { view_pickle_ = ok; }
    [[nodiscard]] bool views_pickle() const noexcept { return view_pickle_; }

    /// Slot arrays: `s` += `more`; `s` = `items`. The caller charges the slots (growth by
    /// doubling wastes at most what it charged once more, until compact()).
    template <class T>
    void append(slots<T>& s, std::span<const T> more) {
        if (more.empty()) return;
        reserve(s, s.n_ + more.size());
        std::uninitialized_copy(more.begin(), more.end(), s.p_ + s.n_);
        s.n_ += static_cast<std::uint32_t>(more.size());
    }
    template <class T>
    void push(slots<T>& s, const T& item) { append(s, std::span<const T>(&item, 1)); }
    template <class T>
    void assign(slots<T>& s, std::span<const T> items) {
        s.n_ = 0;
        append(s, items);
    }

    /// The node behind `v`, which this arena made, to change while the checkpoint opens.
    /// A value of another arena (or an inline one) is a broken invariant: it aborts.
    [[nodiscard]] node& mut(const value& v);

    /// Copies what `roots` reach into fresh memory and frees the rest: the nodes that died
    /// while the tree was built (call arguments, persistent ids, sizes a tensor took in) and
    /// the slack of grown arrays. Updates `roots` in place; every other value of this arena
    /// is invalid afterwards. Texts stay where they are.
    void compact(std::span<value* const> roots);

    /// The key index of a dict being built (pickle::set_item), made on first use; dropped by
    /// compact().
    struct dict_index {
        flat_index keys;     // positions in the dict's entries of its str and int keys
        bool built = false;  // the entries from before the index are in it
    };
    [[nodiscard]] dict_index* index_of(const node& dict, bool make);

private:
    // Memory in chunks that double from a small first one (small files stay cheap) up to
    // 2 MiB, from then on mapped and aligned so the kernel may back each with one huge page;
    // an array larger than a quarter chunk gets a mapping of its own, given back when it
    // grows again. A pickle of 100k tensors makes about a million nodes: page faults
    // dominated its open, so the pool keeps the nodes and arrays dense.
    class pool {
    public:
        pool() = default;
        pool(pool&& o) noexcept;
        pool& operator=(pool&& o) noexcept;
        pool(const pool&) = delete;
        ~pool();
        /// `bytes` (a multiple of 8) of uninitialised memory, 16-byte aligned.
        void* take(std::size_t bytes) {
            bytes = (bytes + 15) & ~std::size_t{15};
            if (bytes <= static_cast<std::size_t>(end_ - next_)) {
                void* p = next_;
                next_ += bytes;
                return p;
            }
            return take_slow(bytes);
        }
        /// Gives back memory from take() when it was a mapping of its own; else nothing.
        void give_back(void* p) noexcept;
        /// Drops the untouched pages at the end of the current chunk when it is a mapping: a
        /// huge page is resident whole, however little of it is used, until split so.
        /// Taking from there again faults in zeroed pages.
        void release_tail() noexcept;
        [[nodiscard]] bool holds(const void* p) const noexcept;

    private:
        struct chunk {
            std::byte* start;
            std::size_t bytes;
            bool mapped;
            bool own;  // one array's alone
        };
        void* take_slow(std::size_t bytes);
        chunk map_chunk(std::size_t bytes, bool huge);
        static void release(const chunk& c) noexcept;
        std::vector<chunk> chunks_;            // by start address
        std::byte* next_ = nullptr;
        std::byte* end_ = nullptr;
        std::size_t last_ = 0;                 // bytes of the last shared chunk
        mutable std::size_t hint_ = 0;
    };

    template <class T>
    void reserve(slots<T>& s, std::size_t want) {
        if (want <= s.cap_) return;
        if (want > UINT32_MAX) over_bytes(UINT64_MAX);
        std::size_t cap = s.cap_ ? 2 * std::size_t{s.cap_} : want;
        if (cap < want) cap = want;
        if (cap > UINT32_MAX) cap = UINT32_MAX;
        T* p = static_cast<T*>(nodes_.take(cap * sizeof(T)));
        if (s.n_) std::uninitialized_copy(s.p_, s.p_ + s.n_, p);
        if (s.p_) nodes_.give_back(s.p_);
        s.p_ = p;
        s.cap_ = static_cast<std::uint32_t>(cap);
    }

    [[noreturn]] void over_nodes() const;
    [[noreturn]] void over_bytes(std::uint64_t wanted) const;

    pool nodes_;                 // nodes and slot arrays
    std::vector<std::unique_ptr<char[]>> texts_;  // keep()'s store, in blocks
    std::vector<std::pair<const char*, std::size_t>> text_ranges_;  // the blocks, by address
    char* text_next_ = nullptr;
    std::size_t text_left_ = 0;
    std::unique_ptr<std::unordered_map<const node*, std::unique_ptr<dict_index>>> indexes_;
    const node* last_indexed_ = nullptr;  // index_of's last answer
    dict_index* last_index_ = nullptr;
    std::size_t size_ = 0;
    bool view_pickle_ = false;
    arena_budget budget_;
    std::uint64_t charged_ = 0;
};

}  // namespace ptio::detail

namespace ptio::detail::pickle {

/// New nodes of the usual kinds, for the unpickler and its resolvers.
value make_string(arena& nodes, std::string text, kind k = kind::string);
/// A str or bytes of the pickle's own bytes: a view of them when the arena views_pickle(),
/// else a copy in its text store.
value make_string_view(arena& nodes, std::string_view pickle_text, kind k = kind::string);
value make_tuple(arena& nodes, std::vector<value> items);
/// An object "module.name"; `n` is left for the caller to tag.
node& make_object_node(arena& nodes, std::string_view module, std::string_view name,
                       value::origin origin, value args = {});
value make_object(arena& nodes, std::string_view module, std::string_view name,
                  value::origin origin, value args = {});

/// `dict[k] = v` as Python's dict does it: a key already present keeps its place and takes
/// the new value. str, int and big int keys are compared (what checkpoints use); any other
/// key is appended. `dict` is a node of `nodes`.
void set_item(arena& nodes, node& dict, const value& k, const value& v);

}  // namespace ptio::detail::pickle
