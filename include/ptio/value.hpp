// ptio/value.hpp — the loaded object tree.
//
// A checkpoint's pickle becomes a tree of `value`s: none, bool, int, big int, float, str,
// bytes, list, tuple, set, dict (ordered, as Python's), tensor, and object — a class ptio did
// not run, kept with its name, arguments and state so the tensors inside stay reachable.
//
// Ownership: a value is a 16-byte handle. Scalars are held inline; strings, containers,
// tensors and objects point into storage owned by the checkpoint, so a value is valid while
// its checkpoint lives. Values are immutable and safe to read from many threads at once.
// The tree may share nodes (the pickle memo) and, in hostile files, contain cycles: walk it
// with a depth limit or a visited set.
//
// Accessors of the wrong kind throw ptio::error(errc::invalid_argument).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ptio {

class tensor;
namespace detail {
struct node;
class value_access;
}

enum class kind : std::uint8_t {
    none,
    boolean,
    integer,      ///< fits in int64
    big_integer,  ///< does not; as_bytes() gives two's-complement little-endian bytes
    floating,
    string,       ///< UTF-8 text (py2 byte strings are decoded as UTF-8, or Latin-1 if invalid)
    bytes,        ///< bytes and bytearray
    list,
    tuple,
    set,          ///< set and frozenset
    dict,         ///< dict, OrderedDict, Counter, defaultdict: insertion order kept
    tensor,
    object,       ///< a global ptio did not call: a class, a call, or an instance
};

/// "none", "bool", "int", … as Python would name the kind.
[[nodiscard]] std::string_view to_string(kind k) noexcept;

class value {
public:
    using entry = std::pair<value, value>;

    /// None.
    constexpr value() noexcept = default;

    [[nodiscard]] kind type() const noexcept { return kind_; }
    [[nodiscard]] bool is_none() const noexcept { return kind_ == kind::none; }
    [[nodiscard]] bool is(kind k) const noexcept { return kind_ == k; }

    [[nodiscard]] bool as_bool() const;
    [[nodiscard]] std::int64_t as_int() const;
    [[nodiscard]] double as_float() const;  ///< floating, or an integer converted
    [[nodiscard]] std::string_view as_string() const;
    /// bytes; for big_integer the two's-complement little-endian digits.
    [[nodiscard]] std::span<const std::byte> as_bytes() const;
    /// The decimal text of an integer or big_integer. Throws limit_exceeded for a
    /// big_integer of more than 4300 digits (CPython's default limit for str(int); the
    /// conversion's time grows with the square of the length): as_bytes() has it exactly.
    [[nodiscard]] std::string int_text() const;
    [[nodiscard]] const tensor& as_tensor() const;

    /// Elements of a list, tuple or set; an object's list items (APPEND on an instance).
    [[nodiscard]] std::span<const value> items() const;
    /// Entries of a dict in insertion order; an object's dict items (SETITEM on an instance).
    [[nodiscard]] std::span<const entry> entries() const;
    /// Number of items or entries of a container.
    [[nodiscard]] std::size_t size() const;
    /// The value under a str key of a dict, or nullptr.
    [[nodiscard]] const value* get(std::string_view key) const;

    /// For a dict: the class it was built from ("dict", "collections.OrderedDict", …); for a
    /// set "builtins.set" or "builtins.frozenset"; for bytes "builtins.bytes" or
    /// "builtins.bytearray"; for a tuple "builtins.tuple" or "torch.Size".
    /// For an object: its global as "module.name" ("torch.device", "__main__.Net").
    [[nodiscard]] std::string_view class_name() const;
    /// An object's global split: module ("torch.nn.modules.linear") and name ("Linear").
    [[nodiscard]] std::string_view module() const;
    [[nodiscard]] std::string_view name() const;
    /// How an object came to be: a bare global, a call of it (REDUCE), an instance
    /// (NEWOBJ / INST / OBJ), or a tensor of a subclass (torch._tensor._rebuild_from_type_v2
    /// with a class or attributes of its own): module() and name() are its class, args() is
    /// (the tensor,), state() its attributes (a dict; slots as (dict, slots)).
    enum class origin : std::uint8_t { global, call, instance, subclass };
    [[nodiscard]] origin object_origin() const;
    /// An object's arguments (a tuple), or none for a bare global.
    [[nodiscard]] value args() const;
    /// The state BUILD gave an object (or a dict, e.g. a state_dict's `_metadata`), or none.
    [[nodiscard]] value state() const;

    /// What the value points at, for visited sets over shared and cyclic trees: values that
    /// are the same str, bytes, big int, container or object (one pickle memo entry) have
    /// the same identity. nullptr for none, bool, int, float and tensors (a tensor's
    /// identity is &as_tensor()).
    [[nodiscard]] const void* identity() const noexcept { return holds_node() ? n_ : nullptr; }

private:
    // Values are made inside ptio (detail::value_access) while a checkpoint opens.
    friend class detail::value_access;

    void expect(kind k) const;
    [[nodiscard]] bool holds_node() const noexcept {
        return kind_ != kind::boolean && kind_ != kind::integer && kind_ != kind::floating &&
               kind_ != kind::none && kind_ != kind::tensor;
    }

    kind kind_ = kind::none;
    union {
        bool b_;
        std::int64_t i_ = 0;
        double f_;
        const detail::node* n_;
        const tensor* t_;
    };
};

/// Python's repr of a dict key as used in tensor names: str keys as they are, ints in
/// decimal, others as Python would print them (True, None, 1.5, (1, 2)).
[[nodiscard]] std::string key_text(const value& key);

}  // namespace ptio
