// sharded — a Hugging Face sharded checkpoint: an index names, for every
// tensor, the torch.save file (shard) beside it that holds the tensor.
//
// Construction reads and checks only the index; no shard is mapped. A shard is opened, as an
// ordinary checkpoint with the same open_options, the first time one of its tensors is asked
// for, at most once (std::call_once: an open that throws is tried again, and throws again,
// on the next request). all() and root() open every shard. Names and their order come from
// the index; a shard's other contents are not listed.
// Thread-safety: const methods may be called from many threads at once.
#pragma once

#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pickle/node.hpp"
#include "ptio/checkpoint.hpp"

namespace ptio::detail {

class shard_set {
public:
    /// True when checkpoint::open should hand `path` here: a directory, or a file whose name
    /// ends in ".index.json".
    [[nodiscard]] static bool is_index(const std::filesystem::path& path);
    /// The index to read for `path`: the file itself, or the one `*.bin.index.json` a
    /// directory holds (none: io_error; several: invalid_argument listing them).
    [[nodiscard]] static std::filesystem::path index_of(const std::filesystem::path& path);

    shard_set(const std::filesystem::path& index, const open_options& options);

    [[nodiscard]] const std::string& index_file() const noexcept { return index_; }
    /// Every shard's path, in name order.
    [[nodiscard]] std::vector<std::string> files() const;
    /// The path of the shard the index puts `name` in, or "" for a name it lacks.
    [[nodiscard]] std::string_view file_of(std::string_view name) const noexcept;
    /// The tensor, opening its shard; nullptr for a name the index lacks. Throws
    /// missing_record for a missing shard, not_found for a name its shard does not hold.
    [[nodiscard]] const named_tensor* find(std::string_view name) const;
    /// Every tensor of the index, in its order (opens every shard).
    [[nodiscard]] std::span<const named_tensor> all() const;
    /// A dict name → tensor over all() (opens every shard).
    [[nodiscard]] const value& root() const;
    /// Opens every shard and verifies it; a shard that does not open and a name its shard
    /// lacks are problems too.
    std::size_t verify(const std::function<void(const error&)>& problem) const;

private:
    struct shard {
        std::string path;
        std::vector<std::size_t> names;  // indices into named_, in index order
        std::once_flag once;
        std::optional<checkpoint> ck;
    };
    const checkpoint& open_shard(std::size_t s, std::size_t wanted) const;
    [[nodiscard]] error not_held(std::size_t i) const;

    std::string index_;
    open_options options_;
    mutable std::deque<shard> shards_;
    // Index order. named_[i].tensor is set by its shard's open (under that shard's once).
    mutable std::vector<named_tensor> named_;
    std::vector<std::size_t> shard_of_;  // per name
    std::unordered_map<std::string_view, std::size_t> by_name_;  // views named_[i].name
    mutable std::once_flag all_once_;
    mutable arena nodes_;
    mutable value root_;
};

}  // namespace ptio::detail
