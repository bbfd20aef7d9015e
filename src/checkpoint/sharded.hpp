// sharded — a Hugging Face sharded checkpoint as a checkpoint source: an index names, for
// every tensor, the torch.save file (shard) beside it that holds the tensor.
//
// Construction reads and checks only the index; no shard is mapped. A shard is opened, as a
// file_source with the same open_options, the first time one of its tensors is asked for, at
// most once (std::call_once: an open that throws is tried again, and throws again, on the
// next request). tensors() and root() open every shard; find() only the name's. Names and
// their order come from the index; a shard's other contents are not listed. tensors() is a
// state_dict already (lists_state_dict()).
// Ownership and lifetime: owns its shards, whose tensors it hands out.
// Thread-safety: const methods may be called from many threads at once.
// Failure: as checkpoint.hpp documents for sharded checkpoints.
#pragma once

#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "checkpoint/file_source.hpp"
#include "checkpoint/name_index.hpp"
#include "checkpoint/source.hpp"
#include "core/text_pool.hpp"
#include "pickle/node.hpp"

namespace ptio::detail {

class sharded_source final : public checkpoint_source {
public:
    /// The index to read for `path`: the file itself, or the one `*.bin.index.json` a
    /// directory holds (none: io_error; several: invalid_argument listing them).
    [[nodiscard]] static std::filesystem::path index_of(const std::filesystem::path& path);

    sharded_source(const std::filesystem::path& index, const open_options& options);

    /// The index's path.
    [[nodiscard]] const std::string& file() const noexcept override { return index_; }
    [[nodiscard]] std::string_view format() const noexcept override { return "sharded"; }
    /// Each shard's own byte order is applied to its storages.
    [[nodiscard]] std::string_view byteorder() const noexcept override { return "little"; }
    /// Every tensor of the index, in its order (opens every shard).
    [[nodiscard]] std::span<const named_tensor> tensors() const override;
    /// A dict name → tensor over tensors() (opens every shard).
    [[nodiscard]] const value& root() const override;
    /// Every shard's globals, in shard order (opens every shard).
    [[nodiscard]] std::span<const global_ref> globals() const override;
    /// Opens every shard and verifies it; a shard that does not open and a name its shard
    /// lacks are problems too.
    std::size_t verify(const std::function<void(const error&)>& problem) const override;
    /// Every shard's path, in name order.
    [[nodiscard]] std::vector<std::string> shard_files() const override;
    /// The path of the shard the index puts `name` in, or "" for a name it lacks.
    [[nodiscard]] std::string_view shard_of(std::string_view name) const noexcept override;
    /// Shards are always mapped files.
    [[nodiscard]] bool maps_files() const noexcept override { return true; }

protected:
    /// The tensor, opening its shard; nullptr for a name the index lacks. Throws
    /// missing_record for a missing shard, not_found for a name its shard does not hold.
    [[nodiscard]] const named_tensor* find_listed(std::string_view name) const override;
    [[nodiscard]] bool lists_state_dict() const noexcept override { return true; }
    [[nodiscard]] tree_facts facts() const noexcept override { return {}; }  // never walked

private:
    struct shard {
        std::string path;
        std::vector<std::size_t> names;  // indices into named_, in index order
        std::once_flag once;
        std::unique_ptr<file_source> src;
    };
    /// The shards and names of the index's "weight_map" (an object), each shard in `dir`.
    void read_weight_map(const std::filesystem::path& dir, const nlohmann::ordered_json& wm);
    const file_source& open_shard(std::size_t s, std::size_t wanted) const;
    [[nodiscard]] error not_held(std::size_t i) const;

    std::string index_;
    mutable std::deque<shard> shards_;
    // Index order. named_[i].tensor is set by its shard's open (under that shard's once).
    mutable std::vector<named_tensor> named_;
    text_pool name_texts_;  // the names named_ sees
    mutable std::once_flag globals_once_;
    mutable std::vector<global_ref> globals_;
    std::vector<std::size_t> shard_of_;  // per name
    name_index by_name_;  // built at construction
    mutable std::once_flag all_once_;
    mutable arena nodes_;
    mutable value root_;
};

}  // namespace ptio::detail
