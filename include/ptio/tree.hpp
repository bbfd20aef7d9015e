// ptio/tree.hpp — an object tree to write with ptio::save (save.hpp).
//
//   auto sd = ptio::tree::ordered_dict();
//   sd.set("fc.weight", ptio::tree::tensor(ptio::dtype::float32, {4, 3}, weight_bytes));
//   sd.set("fc.bias", ptio::tree::tensor(ptio::dtype::float32, {4}, bias_bytes));
//   sd.set("epoch", 7);
//   ptio::save(sd, "model.pt");            // torch.load("model.pt") gives the same OrderedDict
//
// A tree is what Python would build: None, bool, int (any size), float, str, bytes, list,
// tuple, set, dict or OrderedDict, tensors, and objects named by their global (torch.device,
// torch.Size, a class ptio read but did not run). `tree::from` turns a loaded value
// (value.hpp) back into a tree, so a program can filter, rename or merge checkpoints: the
// tensors of the result are views of the open checkpoint and are written without being
// copied through the program's memory.
//
// Handles: a tree is a reference to a node, as a Python name is to an object. Copies refer to
// the same node; a node put in two places is one object in the file (torch.load gives the same
// Python object twice). A node cannot contain itself: set, append, state, rename and replace
// refuse (invalid_argument, "the tree would hold a cycle") a value that holds, at any depth,
// the node it is put into, and leave the node unchanged. Nodes own their children, so a
// cycle would own itself and never be freed (a loaded value that contains itself becomes a
// reference back, not owned: see from()).
//
// Tensors and storages: a tensor views a storage (its bytes) with a dtype, shape, strides and
// an offset in elements. Tensors made from one `storage_ref`, from one storage of an open
// checkpoint, or from one device allocation share their storage in the file, as torch's do,
// and the whole storage is written once. Bytes handed in are borrowed: they must stay valid
// and unchanged until save returns (a checkpoint's views: while the checkpoint lives).
//
// Thread-safety: building a tree is not synchronised; a finished tree may be saved from
// several threads at once. Failure: ptio::error(errc::invalid_argument) naming the problem.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ptio/dtype.hpp"
#include "ptio/value.hpp"

namespace ptio {

class tensor;
class device_tensor;
class checkpoint;
namespace detail {
struct tree_node;
struct save_storage;
struct tree_access;
}  // namespace detail

/// The bytes of one storage to write, shared by every tensor made from it.
class storage_ref {
public:
    /// Borrow the caller's bytes; they must outlive the save. `location` is the tag torch.load
    /// restores the storage to ("cpu", "cuda:0").
    [[nodiscard]] static storage_ref borrow(std::span<const std::byte> bytes,
                                            std::string location = "cpu");
    /// Take the bytes over.
    [[nodiscard]] static storage_ref own(std::vector<std::byte> bytes,
                                         std::string location = "cpu");

    [[nodiscard]] std::uint64_t nbytes() const noexcept;
    [[nodiscard]] const std::string& location() const noexcept;

private:
    friend struct detail::tree_access;
    explicit storage_ref(std::shared_ptr<const detail::save_storage> s) noexcept
        : s_(std::move(s)) {}

    std::shared_ptr<const detail::save_storage> s_;
};

class tree {
public:
    using shape_type = std::vector<std::int64_t>;

    /// None.
    tree();
    tree(std::nullptr_t) : tree() {}
    tree(bool b);
    tree(double f);
    tree(const char* s) : tree(std::string_view(s)) {}
    tree(std::string_view s);
    tree(const std::string& s) : tree(std::string_view(s)) {}
    /// An int; unsigned values past int64 are kept exactly.
    template <std::integral I>
        requires(!std::same_as<I, bool>)
    tree(I i) : tree(int_tag{}, static_cast<std::int64_t>(i)) {
        if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
            if (i > static_cast<I>(INT64_MAX)) *this = big_int(std::to_string(i));
        }
    }

    /// An int of any size from its decimal text ("-12", "1180591620717411303424").
    [[nodiscard]] static tree big_int(std::string_view decimal);
    /// An int of any size from its little-endian two's-complement bytes (what
    /// value::as_bytes() gives for a big_integer), kept as they are: no decimal on the way,
    /// so copying an integer costs its length, not its square. Empty bytes are 0.
    [[nodiscard]] static tree big_int(std::span<const std::byte> twos_complement);
    [[nodiscard]] static tree bytes(std::span<const std::byte> b);
    [[nodiscard]] static tree bytearray(std::span<const std::byte> b);
    [[nodiscard]] static tree list(std::initializer_list<tree> items = {});
    [[nodiscard]] static tree tuple(std::initializer_list<tree> items = {});
    [[nodiscard]] static tree set(std::initializer_list<tree> items = {});
    [[nodiscard]] static tree frozenset(std::initializer_list<tree> items = {});
    /// A plain dict; fill it with set().
    [[nodiscard]] static tree dict();
    /// A collections.OrderedDict (what state_dict() returns).
    [[nodiscard]] static tree ordered_dict();
    /// A collections.Counter; fill it with set().
    [[nodiscard]] static tree counter();
    /// A collections.defaultdict with no default_factory (None); fill it with set().
    [[nodiscard]] static tree defaultdict();

    /// A contiguous tensor over borrowed bytes: exactly numel × element size of them.
    [[nodiscard]] static tree tensor(dtype type, shape_type shape, std::span<const std::byte> bytes);
    /// A view of a storage: strides and offset in elements; the view must lie inside it.
    [[nodiscard]] static tree tensor(const storage_ref& storage, dtype type, shape_type shape,
                                     shape_type strides, std::int64_t storage_offset = 0);
    /// A tensor of an open checkpoint, with its storage, geometry, location tag,
    /// requires_grad and Parameter flag. Its storage's bytes are read when saving.
    [[nodiscard]] static tree tensor(const ptio::tensor& t);
    /// A tensor placed by ptio::load, saved with its device's tag ("cuda:0"); its storage is
    /// copied back to the host when saving. The `loaded` must outlive the save.
    [[nodiscard]] static tree tensor(const device_tensor& t);
    /// A storage saved on its own (torch.save(t.storage())): torch.load gives a TypedStorage
    /// of `type` over all of the storage's bytes (a whole number of elements).
    [[nodiscard]] static tree storage(const storage_ref& storage, dtype type);
    /// A tensor with no data (torch's meta device): only dtype, shape and strides are saved.
    [[nodiscard]] static tree meta_tensor(dtype type, shape_type shape, shape_type strides = {});

    /// A global by name, uncalled ("torch", "float16" is torch.float16).
    [[nodiscard]] static tree global(std::string module, std::string name);
    /// A call of a global with a tuple of arguments: torch.device("cuda", 1) is
    /// call("torch", "device", tuple({"cuda", 1})).
    [[nodiscard]] static tree call(std::string module, std::string name, tree args);
    /// An instance made from a class and its arguments without calling it, as pickle's NEWOBJ
    /// does (cls.__new__(cls, *args)); give it its BUILD state with state().
    [[nodiscard]] static tree instance(std::string module, std::string name, tree args);
    /// A tensor of a subclass of torch.Tensor, saved as torch saves one
    /// (torch._tensor._rebuild_from_type_v2): give its attributes with state() (a dict).
    [[nodiscard]] static tree subclass(std::string module, std::string name, tree tensor);

    /// For a converter of an object graph that contains itself (a Python list inside itself,
    /// a scheduler whose bound method holds the scheduler): a stand-in for a container still
    /// being converted, pointed at it with refer_to() once it is made. It does not own what
    /// it refers to (a tree never owns itself) and reads as None; save writes it as pickle
    /// writes a reference back (a memo get), or refuses, naming `where`, what pickle cannot
    /// build (an object inside nothing but its own arguments).
    [[nodiscard]] static tree back_reference(std::string where);
    /// Points this back_reference() at `target`. Throws invalid_argument for any other tree.
    void refer_to(const tree& target);

    /// A loaded value as a tree: containers are rebuilt (so they may be edited), tensors
    /// become tree::tensor(t), objects keep their global, arguments and state, and a node the
    /// file shared stays shared. A value that contains itself (a pickle can build one through its
    /// memo) keeps its inner occurrence as a reference back to the container, which the tree
    /// does not own and its accessors read as None; save writes it as pickle does (a memo get),
    /// or refuses, naming the path, a tuple or set made of itself. Throws limit_exceeded past
    /// 1000 levels of nesting.
    [[nodiscard]] static tree from(const value& v);
    /// The same, each object remembering where `origin` (the checkpoint `v` came from)
    /// first names its global, which a save that refuses the object reports.
    [[nodiscard]] static tree from(const value& v, const checkpoint& origin);

    // --- building ---------------------------------------------------------------------------
    /// dict / OrderedDict: set key to v (replacing an equal key's value, in place). Object:
    /// the same, written as the pickle's SETITEMs after the object is made.
    tree& set(tree key, tree v);
    /// list, tuple, set or frozenset: append v (so a builder can fill a tuple of a size known
    /// only at run time). Object: an item of the pickle's APPENDs after it is made.
    tree& append(tree v);
    /// dict: remove the entry under key, if any; true if one was removed.
    bool erase(std::string_view key);
    /// Tensor: torch's requires_grad flag. Parameter: save as torch.nn.Parameter.
    tree& requires_grad(bool on = true);
    tree& parameter(bool on = true);
    /// dict: the state applied after the items (a state_dict's `_metadata`); objects: BUILD.
    tree& state(tree s);

    // --- reading back -----------------------------------------------------------------------
    [[nodiscard]] kind type() const noexcept;
    /// dict entries in order; list, tuple and set items.
    [[nodiscard]] std::span<const std::pair<tree, tree>> entries() const;
    [[nodiscard]] std::span<const tree> items() const;
    /// The value under a str key of a dict, or nullptr.
    [[nodiscard]] const tree* get(std::string_view key) const;
    /// dict: replace the key of entry i (keeping its place), for renaming.
    void rename(std::size_t i, tree key);
    /// dict: the value of entry i; list, tuple, set: item i.
    void replace(std::size_t i, tree v);
    /// dict: entry i; list, tuple, set: item i.
    void remove(std::size_t i);
    /// str value.
    [[nodiscard]] std::string_view as_string() const;
    /// Same node?
    [[nodiscard]] bool same(const tree& o) const noexcept { return node_ == o.node_; }

private:
    friend struct detail::tree_access;
    explicit tree(std::shared_ptr<detail::tree_node> n) noexcept : node_(std::move(n)) {}
    struct int_tag {};
    tree(int_tag, std::int64_t i);
    detail::tree_node& mut(kind expected, const char* what);

    std::shared_ptr<detail::tree_node> node_;
};

}  // namespace ptio
