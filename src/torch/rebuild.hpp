// rebuild — the resolver that turns torch's pickle into tensors and containers.
//
// It answers the unpickler's GLOBAL, REDUCE, NEWOBJ, BUILD and persistent-id requests from a
// fixed table: storage references become storages checked against their records, torch's
// rebuild functions (torch._utils._rebuild_tensor_v2 and kin) become tensor views checked
// against their storages, and OrderedDict, torch.Size, _codecs.encode, set and friends become
// plain values. Anything else becomes an opaque object; nothing is ever called.
//
// One class, its parts by job: rebuild.cpp (globals and the REDUCE / NEWOBJ / BUILD
// dispatch), persistent.cpp (the persistent-id schemes naming storages), tensors.cpp (tensors
// and their geometry checks) and numpy.cpp (numpy arrays and scalars).
//
// Ownership: nodes go into the arena, storages and tensors into the deques it is given, all
// owned by the checkpoint being opened; the rebuilder is the one place that changes them
// while it opens. Not thread-safe; failures throw ptio::error naming the pickle's offset.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/page_array.hpp"
#include "core/stable_vector.hpp"
#include "io/cursor.hpp"
#include "pickle/machine.hpp"
#include "ptio/limits.hpp"
#include "ptio/tensor.hpp"
#include "torch/globals.hpp"
#include "torch/storage.hpp"
#include "torch/tensor_access.hpp"
#include "zip/archive.hpp"

namespace ptio::detail::torch {

/// How persistent ids name storages.
enum class id_style {
    zip,     ///< ('storage', class, key, location, numel): record <record_dir><key>
    legacy,  ///< ('storage', class, root_key, location, numel, view_metadata); blobs follow
    tar,     ///< a decimal key into the tables of the tar's storages and tensors members
};

struct rebuild_context {
    const zip::archive* archive = nullptr;  // zip ids only
    const mapped_file* file = nullptr;  // the checkpoint's bytes, for storage::options::file
    id_style ids = id_style::zip;
    std::string record_dir = "data/";  // where persistent ids' keys point
    source where;                      // data.pkl, for messages
    open_options options;
    bool swap_bytes = false;
};

/// The text of a str, or the bytes of a bytes value as text (Python 2 pickles' keys).
inline std::string_view bytes_text(const value& v) {
    if (!v.is(kind::bytes)) return v.as_string();
    const auto b = v.as_bytes();
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}
/// A storage key as text: a str, bytes (Python 2 pickles) or an int; nullopt for the rest.
[[nodiscard]] std::optional<std::string> key_string(const value& v);

/// The tag the globals table gave an object (known::none for anything else).
[[nodiscard]] inline known tag_of(const value& v) noexcept {
    return v.is(kind::object) ? node_of(v)->tag : known::none;
}
/// The element type a storage class global names, or nullopt when torch has no such class.
[[nodiscard]] inline std::optional<dtype> storage_class_type(const value& cls) noexcept {
    if (tag_of(cls) != known::storage_class || node_of(cls)->aux == unknown_dtype) return std::nullopt;
    return static_cast<dtype>(node_of(cls)->aux);
}

class rebuilder final : public pickle::resolver {
public:
    /// `texts` keeps the location texts storages and tensors point at (location_text), as
    /// long as they live.
    rebuilder(rebuild_context ctx, arena& nodes, stable_vector<storage>& storages,
              stable_vector<tensor>& tensors, std::deque<std::string>& texts)
        : ctx_(std::move(ctx)), nodes_(nodes), storages_(storages), tensors_(tensors), texts_(texts) {
        if (ctx_.archive) {
            by_entry_ = page_array<value>(ctx_.archive->entries().size());
            std::uninitialized_fill(by_entry_.begin(), by_entry_.end(), value());
        }
    }
    rebuilder(const rebuilder&) = delete;
    rebuilder& operator=(const rebuilder&) = delete;

    value global(std::string_view module, std::string_view name, std::uint64_t at) override;
    value persistent(const value& pid, std::uint64_t at) override;
    value reduce(const value& callable, const value& args, std::uint64_t at) override;
    value instantiate(const value& cls, const value& args, std::uint64_t at) override;
    void build(const value& target, const value& state, std::uint64_t at) override;

    /// A 1-D tensor over a storage saved on its own (a storage_ref value; for a legacy
    /// view, over the view's elements).
    value storage_tensor(const value& ref);

    // The legacy and tar formats locate storages outside the object pickle.
    /// A storage_ref to a new storage whose bytes are located later (storage::locate).
    value span_storage(std::string key, std::string_view location, dtype type, std::uint64_t numel,
                       std::uint64_t at);
    /// The kept text equal to `location`: one per distinct tag (a hash lookup), so a
    /// storage or tensor holds a pointer, not a string of its own.
    const std::string& location_text(std::string_view location);
    /// A storage `key` over `numel` elements at element `offset` of a root storage_ref
    /// (legacy view metadata, the tar's storage views), as torch makes one: a window of the
    /// root's bytes (storage::view_of), which may be located later.
    value storage_view(const value& root, std::string key, std::uint64_t offset, std::uint64_t numel,
                       std::uint64_t at);
    /// A tensor over a storage_ref, checked like a pickled one.
    value tensor_over(const value& ref, std::int64_t offset, std::span<const std::int64_t> shape,
                      std::span<const std::int64_t> strides, std::uint64_t at);
    /// True for a storage_ref value (what persistent ids and span_storage give).
    [[nodiscard]] static bool is_storage_ref(const value& v) noexcept { return tag_of(v) == known::storage_ref; }
    /// The storage a storage_ref stands for; the non-const one for the legacy and tar
    /// readers to locate its bytes while the checkpoint opens, before any access.
    [[nodiscard]] const storage& storage_of_ref(const value& ref) const;
    [[nodiscard]] storage& storage_of_ref(const value& ref);
    /// Legacy: the storages the object pickle referenced, by root key.
    [[nodiscard]] const std::unordered_map<std::string, value>& legacy_storages() const noexcept {
        return by_key_;
    }
    /// Tar: what a persistent id's key stands for.
    void add_tar_object(std::int64_t key, value v) { tar_objects_[key] = v; }
    [[nodiscard]] const value* tar_object(std::int64_t key) const {
        auto it = tar_objects_.find(key);
        return it == tar_objects_.end() ? nullptr : &it->second;
    }
    [[nodiscard]] const rebuild_context& context() const noexcept { return ctx_; }
    /// Every distinct global the pickles named, in first-use order, with where.
    struct seen_global {
        global_info info;
        std::uint64_t at;
        std::string record;
    };
    [[nodiscard]] const std::vector<seen_global>& globals_seen() const noexcept { return seen_; }
    /// The part whose bytes are read now (a tar member), named in messages: text that
    /// outlives the rebuilder.
    void set_record(std::string_view record) noexcept { ctx_.where.record = record; }

private:
    [[noreturn]] void fail(errc code, std::uint64_t at, const std::string& what) const;

    // persistent.cpp
    value zip_persistent(const value& pid, std::uint64_t at);
    value legacy_persistent(const value& pid, std::uint64_t at);
    value tar_persistent(const value& pid, std::uint64_t at);
    /// The storage_ref value that stands for the storage added last (`pid`: what the file said).
    value ref_to_newest(value pid = {});

    // tensors.cpp
    value tensor_from(const value& storage_ref, std::optional<dtype> explicit_type,
                      const value& offset, const value& size, const value& stride,
                      bool requires_grad, std::uint64_t at, const value* metadata = nullptr);
    value checked_tensor(const value& ref, std::optional<dtype> explicit_type, std::int64_t offset,
                         std::span<const std::int64_t> shape, std::span<const std::int64_t> strides,
                         std::uint64_t at, tensor_flags flags = {});
    value meta_tensor(const value& type, const value& size, const value& stride, bool rg,
                      std::uint64_t at);
    std::vector<std::int64_t> int_list(const value& v, const char* what, std::uint64_t at) const;
    value as_parameter(const value& t, bool requires_grad, std::uint64_t at);
    void charge_tensor(std::size_t dims);

    // numpy.cpp
    /// REDUCE of a numpy global: a value, or none to keep the call as an opaque object.
    value numpy_reduce(const value& fn, const value& args, std::uint64_t at);
    /// BUILD of an array from numpy.core.multiarray._reconstruct: its elements as a tensor.
    void numpy_build(const value& target, const value& state, std::uint64_t at);
    value numpy_tensor(const value& dtype_v, std::span<const std::int64_t> shape, bool fortran,
                       const value& data, std::uint64_t at);

    /// BUILD of torch.Tensor() with Tensor.__setstate__'s state: the tensor it makes.
    void tensor_class_build(const value& target, const value& state, std::uint64_t at);

    value make_bytes_from(const value& text, const value& encoding, std::uint64_t at);

    rebuild_context ctx_;
    arena& nodes_;
    stable_vector<storage>& storages_;
    stable_vector<tensor>& tensors_;
    std::deque<std::string>& texts_;
    std::unordered_map<std::string_view, const std::string*> text_index_;  // into texts_
    std::unordered_map<std::string, value> globals_;   // "module\nname" → its node
    std::vector<seen_global> seen_;                    // the same, in first-use order
    static constexpr int max_from_type_depth = 64;
    int from_type_depth_ = 0;
    page_array<value> by_entry_;  // storage ref per archive entry (none until first seen)
    // zip: the entry of record_dir + "<n>" at [n], for the decimal keys torch writes (built on
    // the first persistent id: one pass over the directory instead of a lookup per storage).
    std::vector<std::uint32_t> numbered_;
    bool numbered_built_ = false;
    const zip::entry* numbered_entry(std::string_view key);
    std::unordered_map<std::string, value> by_key_;       // legacy: storage ref per root key
    std::unordered_map<std::string, value> view_by_key_;  // legacy: storage ref per view key
    std::unordered_map<std::int64_t, value> tar_objects_;  // tar: storages and tensors by key
};

}  // namespace ptio::detail::torch
