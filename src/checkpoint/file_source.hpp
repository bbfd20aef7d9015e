// file_source — one torch.save file as a checkpoint source: a zip archive (torch.save ≥ 1.6,
// TorchScript and mobile .ptl), the legacy magic-number format or the tar format of
// torch ≤ 0.1.9.
//
// Construction maps, reads (a small file: mapped_file.hpp) or takes the bytes, sniffs the layout (sniff.hpp), then runs its opener:
// it reads the zip directory and the pickles (open_zip.cpp) or the pre-zip layout
// (open_pre_zip.cpp), rebuilds the tree with an unpickler that never calls anything and names
// its tensors by tree path (namer.hpp). No page of a storage record is read: each storage's
// bytes are located on first access. records.cpp lists the container's records and extra
// files; verify.cpp checks what open deferred.
//
// Ownership and lifetime: owns its mapping (or the bytes it adopted; borrowed bytes must
// outlive it), the nodes, storages and tensors; storages point at its mapping, so it never
// moves. Thread-safety and failure: as checkpoint_source; construction throws ptio::error
// naming the file, the record and the offset, and reports running out of memory as
// errc::limit_exceeded.
#pragma once

#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "checkpoint/source.hpp"
#include "core/stable_vector.hpp"
#include "core/text_pool.hpp"
#include "io/mapped_file.hpp"
#include "pickle/node.hpp"
#include "torch/rebuild.hpp"
#include "zip/archive.hpp"

namespace ptio::detail {

class namer;

class file_source final : public checkpoint_source {
public:
    /// Maps `path` (privately and writably when options.copy_on_write) and opens it.
    [[nodiscard]] static std::unique_ptr<file_source> open(const std::filesystem::path& path,
                                                           const open_options& options);
    /// As open(), but a directory is no error: null (checkpoint::open then reads it as an
    /// index). The path is looked up once.
    [[nodiscard]] static std::unique_ptr<file_source> open_unless_directory(
        const std::filesystem::path& path, const open_options& options);
    /// Opens the bytes of `map`; `file` names them in errors.
    file_source(std::string file, const open_options& options, mapped_file map);

    [[nodiscard]] const std::string& file() const noexcept override { return file_; }
    [[nodiscard]] std::string_view format() const noexcept override { return format_; }
    [[nodiscard]] std::string_view byteorder() const noexcept override { return byteorder_; }
    [[nodiscard]] std::string_view prefix() const noexcept override;
    [[nodiscard]] const value& root() const override { return root_; }
    [[nodiscard]] std::span<const named_tensor> tensors() const override { return named_; }
    [[nodiscard]] std::span<const global_ref> globals() const override { return globals_; }
    std::size_t verify(const std::function<void(const error&)>& problem) const override;
    [[nodiscard]] std::span<const record_info> records() const override;
    [[nodiscard]] std::vector<std::string> extra_files() const override;
    [[nodiscard]] std::vector<std::byte> extra_file(std::string_view name) const override;
    [[nodiscard]] bool maps_files() const noexcept override { return map_.is_mapping(); }

protected:
    [[nodiscard]] tree_facts facts() const noexcept override { return {pickle_record_, nodes_.size()}; }

private:
    void open_checked();
    void open_zip();
    void open_pre_zip(torch::id_style ids);
    /// Unpickles one pickle record whose storages live under `record_dir`, then hands the
    /// root to `name` with a namer over it.
    value unpickle(const zip::entry& pkl, std::string record_dir, bool swap,
                   const std::function<void(namer&, value&)>& name);
    /// Adds the globals `rb` saw to globals().
    void keep_globals(const torch::rebuilder& rb);
    /// A namer listing into tensors(), its errors naming `record`.
    [[nodiscard]] namer namer_for(torch::rebuilder& rb, std::string record);

    std::string file_;
    mapped_file map_;
    std::unique_ptr<zip::archive> zip_;  // null for the pre-zip formats
    arena nodes_;
    std::uint64_t pickle_file_bytes_ = 0;  // what the pickles read so far take in the file
    stable_vector<storage> storages_;
    stable_vector<tensor> tensor_store_;
    std::deque<std::string> location_texts_;  // the tags storages and tensors point at
    value root_;
    std::vector<named_tensor> named_;
    text_pool name_texts_;  // the texts named_ sees that the tree does not keep
    std::deque<std::vector<std::byte>> pickle_copies_;  // inflated pickles, for as long as the tree
    std::vector<global_ref> globals_;
    std::string pickle_record_;  // names the pickle in errors found after open
    std::string byteorder_ = "little";
    std::string format_ = "zip";  // what format() reports
    mutable std::once_flag records_once_;
    mutable std::vector<record_info> records_;
};

/// Charge a deflated pickle's inflated copy to `costs` before it is made (a size deflate
/// cannot reach stays the zip's compression_error); past the budget, limit_exceeded naming the
/// record. Shared by open and the globals scan, so both refuse the same bombs.
void charge_inflated(arena& costs, const zip::archive& z, const zip::entry& pkl, const std::string& file);

}  // namespace ptio::detail
