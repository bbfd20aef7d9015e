// source — what a checkpoint reads: one torch.save file (file_source.hpp), or a Hugging Face
// index over several (sharded.hpp); any other kind of file a checkpoint opens joins as one
// more subclass. ptio::checkpoint holds one source and forwards every call to it, so no
// method of checkpoint asks which kind it holds.
//
// A subclass answers what only it knows (the tree, the tensor listing, the container's
// records); state_dict() and find()'s second look-up by state_dict() names are worked out
// here, once, the same way for every source.
//
// Ownership and lifetime: a source owns everything it hands out (mappings, the object tree,
// tensors, names); the pointers and spans it returns live as long as it does. It is neither
// copied nor moved: checkpoint holds it behind a pointer.
// Thread-safety: after construction every const method may be called from many threads at
// once; what is built on first use is built under std::call_once.
// Failure: construction and the methods that read throw ptio::error naming the file; a build
// that throws is tried again on the next call.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/name_index.hpp"
#include "core/text_pool.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"
#include "ptio/limits.hpp"
#include "ptio/value.hpp"

namespace ptio::detail {

class checkpoint_source {
public:
    checkpoint_source(const checkpoint_source&) = delete;
    checkpoint_source& operator=(const checkpoint_source&) = delete;
    virtual ~checkpoint_source();

    // What the file is; checkpoint's accessors of the same names document each.
    [[nodiscard]] virtual const std::string& file() const noexcept = 0;
    [[nodiscard]] virtual std::string_view format() const noexcept = 0;
    [[nodiscard]] virtual std::string_view byteorder() const noexcept = 0;
    /// The archive's top folder; "" (the default) for a source that is no zip archive.
    [[nodiscard]] virtual std::string_view prefix() const noexcept;

    // What it holds.
    [[nodiscard]] virtual const value& root() const = 0;
    [[nodiscard]] virtual std::span<const named_tensor> tensors() const = 0;
    /// The globals its pickles named, as checkpoint::globals documents.
    [[nodiscard]] virtual std::span<const global_ref> globals() const = 0;
    /// Checks everything open deferred, as checkpoint::verify documents.
    virtual std::size_t verify(const std::function<void(const error&)>& problem) const = 0;

    // The container's parts. The defaults are a source without any: no records, no extra
    // files (extra_file throws not_found), no shards.
    [[nodiscard]] virtual std::span<const record_info> records() const;
    [[nodiscard]] virtual std::vector<std::string> extra_files() const;
    [[nodiscard]] virtual std::vector<std::byte> extra_file(std::string_view name) const;
    [[nodiscard]] virtual std::vector<std::string> shard_files() const;
    [[nodiscard]] virtual std::string_view shard_of(std::string_view name) const noexcept;

    /// True when the bytes of every storage come from mapped files (none borrowed or
    /// adopted from memory).
    [[nodiscard]] virtual bool maps_files() const noexcept = 0;
    [[nodiscard]] const open_options& options() const noexcept { return options_; }

    /// The tensors named as checkpoint::state_dict() documents: tensors() itself where
    /// lists_state_dict(), else the tree walked by those rules on the first call.
    [[nodiscard]] std::span<const named_tensor> state_dict() const;
    /// find_listed(name), then, unless lists_state_dict(), the state_dict() entry so named.
    [[nodiscard]] const named_tensor* find(std::string_view name) const;

protected:
    explicit checkpoint_source(const open_options& options) : options_(options) {}

    /// The entry of tensors() named `name`, or nullptr. The default indexes tensors() on the
    /// first call; a source that can find a name without listing everything overrides it.
    [[nodiscard]] virtual const named_tensor* find_listed(std::string_view name) const;
    /// True when tensors() already names every tensor as state_dict() would (an index of
    /// names, not a pickled object tree): state_dict() then is tensors().
    [[nodiscard]] virtual bool lists_state_dict() const noexcept { return false; }

    /// What the state_dict() walk of the tree needs: the record its errors name, and the
    /// tree's node count, which sizes the walk's budget as at open.
    struct tree_facts {
        std::string_view record;
        std::size_t nodes = 0;
    };
    /// Asked only when lists_state_dict() is false.
    [[nodiscard]] virtual tree_facts facts() const noexcept = 0;

    /// Throws errc::not_found for the extra file `name` this source lacks.
    [[noreturn]] void no_extra_file(std::string_view name) const;

private:
    open_options options_;
    name_index listed_;  // tensors() by name, for the default find_listed()
    mutable std::once_flag state_dict_once_;
    mutable std::vector<named_tensor> state_dict_;
    mutable text_pool state_dict_texts_;  // its names
    name_index state_names_;  // state_dict() by name, find()'s second look-up
};

}  // namespace ptio::detail
