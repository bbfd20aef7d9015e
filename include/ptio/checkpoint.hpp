// ptio/checkpoint.hpp — open a torch.save file and reach every tensor without copying.
//
//   auto ck = ptio::checkpoint::open("model.pt");
//   for (const auto& t : ck.tensors())
//       std::cout << t.name << ' ' << ptio::name(t.tensor->dtype()) << '\n';
//   const ptio::tensor_view& w = ck.at("fc.weight").view();
//
// TorchScript archives (torch.jit.save, mobile .ptl) open too: the root is the module object,
// its tensors are named by attribute path as state_dict() names them ("fc.weight"), and the
// tensors of constants.pkl follow as "CONSTANTS.c0", "CONSTANTS.c1", …; code is never run.
//
// Opening maps the file, reads the zip directory and data.pkl, rebuilds the object tree with
// an unpickler that never calls anything, and checks every tensor against its storage record.
// It reads no page of any storage record: a storage's bytes are located on first access.
//
// Ownership and lifetime: a checkpoint owns its mapping (or the bytes it was given) and is
// move-only. Values, tensors and views it hands out are valid while it lives.
// Thread-safety: after open, every const method may be called from many threads at once.
// Failure: open throws ptio::error naming the file, the record and the offset.
//
// Sharded checkpoints: open() of a Hugging Face index
// (pytorch_model.bin.index.json, …) or of a directory holding exactly one *.bin.index.json
// reads only the index and returns one checkpoint over all its shards (format() "sharded").
// Names and their order come from the index's weight_map. Shards are opened lazily, each at
// most once and with the same open_options: find() and at() open only the shard holding the
// name asked for; tensors(), state_dict() (the same list), root() and verify() open every
// shard. A shard missing from disk fails, when first needed, with errc::missing_record naming
// the shard and a tensor that needs it; a name the index puts in a shard that lacks it fails
// with errc::not_found. An index that is not JSON, whose weight_map is not an object of
// strings, or that names a shard outside its directory ('/', "..") is refused at open with
// errc::not_a_checkpoint; a shard that is a directory or an index itself is refused so, when
// first needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ptio/error.hpp"
#include "ptio/limits.hpp"
#include "ptio/tensor.hpp"
#include "ptio/value.hpp"

namespace ptio {

namespace detail {
class checkpoint_source;
}

/// One tensor reachable from the root, in depth-first pickle order.
/// The path and the name are views of texts the checkpoint keeps (one copy of each dict key,
/// one joined name for a path of two or more keys): valid while the checkpoint lives, as the
/// tensor is. Make a std::string of one to keep it longer.
struct named_tensor {
    /// Keys from the root: dict keys as text, list/tuple indices in decimal.
    std::span<const std::string_view> path;
    /// The path joined with '.'; empty for a tensor saved at the root.
    std::string_view name;
    const ptio::tensor* tensor = nullptr;
};

/// A record of the archive, for tools that inspect the container.
struct record_info {
    std::string name;          ///< relative to the archive prefix ("data/0")
    std::uint64_t header_offset = 0;
    std::uint64_t size = 0;    ///< uncompressed
    std::uint64_t compressed_size = 0;
    std::uint16_t method = 0;  ///< 0 stored, 8 deflated
    std::uint32_t crc32 = 0;   ///< from the central directory (0: not recorded)
};

/// A global one of the file's pickles names: a class or function that torch.load would
/// import (and, for most, call). ptio never imports or calls any.
struct global_ref {
    /// How ptio judges it; what `ptio scan` and the CLI's warnings report.
    enum class verdict : std::uint8_t {
        allowed,  ///< torch's weights_only allowlist, or a container class ptio writes itself
                  ///< that runs no code (frozenset, defaultdict, protocol 1's bytes)
        unknown,  ///< anything else: importing its module and calling it may run code
        unsafe,   ///< known to run code, load other pickles or touch the system (os.system,
                  ///< eval, cProfile.run, a nested torch.load, …): checkpoint::open refuses it
    };
    std::string module;  ///< after Python 2 and old torch module renames (__builtin__ → builtins)
    std::string name;
    std::string file;    ///< the file whose pickle names it (a shard, for a sharded checkpoint)
    std::string record;  ///< the pickle ("archive/data.pkl", "pickle", a tar member)
    std::uint64_t offset = 0;  ///< of the first opcode naming it, as error messages count
    verdict judged = verdict::unknown;
    /// In torch.load(weights_only=True)'s allowlist (torch ≥ 2.4's list).
    bool weights_only = false;

    /// "module.name".
    [[nodiscard]] std::string qualified() const { return module + "." + name; }
};

/// The name of a verdict: "allowed", "unknown", "unsafe".
[[nodiscard]] std::string_view to_string(global_ref::verdict v) noexcept;

/// Every global every pickle of the file at `path` names, found by reading the pickles'
/// opcodes alone: nothing is unpickled, so this works for files checkpoint::open refuses
/// (an unsafe global, a bad tensor). Reads the zip format (every *.pkl record, TorchScript's
/// code pickles included), the legacy format (its pickles back to back) and the tar format
/// (its sys_info and pickle members; the small pickles inside its storages and tensors
/// members are read only by open), and a Hugging Face index's shards. A STACK_GLOBAL whose module or name
/// is not a string the scan can follow is reported as module "?" (verdict unsafe).
/// Thread-safe. Throws ptio::error for a file that is no format ptio reads, or whose
/// container (zip directory, tar headers) is broken; a pickle broken part way keeps what was
/// found before the break, and the error is reported through `problem` (may be empty).
[[nodiscard]] std::vector<global_ref> scan_globals(const std::filesystem::path& path,
                                                   const std::function<void(const error&)>& problem = {});

class checkpoint {
public:
    /// Map and open a file; or, for a `*.index.json` file or a directory, read a Hugging Face
    /// index (see above). A directory with no `*.bin.index.json` fails with io_error, one with
    /// several with invalid_argument listing them.
    [[nodiscard]] static checkpoint open(const std::filesystem::path& path,
                                         const open_options& options = {});
    /// Open bytes the caller keeps alive for the checkpoint's lifetime (like io.BytesIO).
    /// `name` is used in error messages.
    [[nodiscard]] static checkpoint open(std::span<const std::byte> bytes,
                                         const open_options& options = {},
                                         std::string name = "<memory>");
    /// Open bytes the checkpoint takes over.
    [[nodiscard]] static checkpoint open(std::vector<std::byte>&& bytes,
                                         const open_options& options = {},
                                         std::string name = "<memory>");

    checkpoint(checkpoint&&) noexcept;
    checkpoint& operator=(checkpoint&&) noexcept;
    checkpoint(const checkpoint&) = delete;
    checkpoint& operator=(const checkpoint&) = delete;
    ~checkpoint();

    /// The unpickled object. Sharded: a dict name → tensor in index order (the first call
    /// opens every shard, and throws as tensors() does).
    [[nodiscard]] const value& root() const;
    /// Every tensor reachable from the root, depth-first in container order. A tensor object
    /// reached under two keys is listed under both. Sharded: the index's names in its order
    /// (the first call opens every shard; throws missing_record or not_found, or what a
    /// shard's open throws, and tries again on the next call).
    [[nodiscard]] std::span<const named_tensor> tensors() const;
    /// Tensors named as model.state_dict() / optimizer.state_dict() would name them, for
    /// files that pickle whole objects (torch.save(model), torch.save(optimizer), or dicts
    /// holding them). Read from the objects' saved __dict__, never by calling a class:
    /// - an object whose state holds `_parameters`, `_buffers` and `_modules` (nn.Module):
    ///   its non-None parameters, its non-None buffers not in `_non_persistent_buffers_set`,
    ///   then each non-None child under "child." — a submodule shared under two names is
    ///   listed under both, as torch does;
    /// - an object whose state holds `state` and `param_groups` (torch.optim.Optimizer):
    ///   "state.<i>.<key>", i the parameter's position in the concatenated param_groups'
    ///   params lists (matched by object, else by storage, offset, shape and strides), then
    ///   any tensor in the groups' other settings as "param_groups.<g>.<key>";
    /// - any other object with a dict state (plain classes, TorchScript objects): its
    ///   attributes, as dict entries;
    /// - dicts, lists, tuples and everything else: as tensors() names them, so for a file
    ///   without such objects state_dict() lists what tensors() lists.
    /// `path` holds the components ("fc", "weight"). Not reproduced: custom state_dict hooks,
    /// _save_to_state_dict overrides (quantized modules) and get_extra_state().
    /// Built on first call (thread-safe); throws errc::limit_exceeded where the listing
    /// budget or depth cap of open is passed (a later call tries again).
    [[nodiscard]] std::span<const named_tensor> state_dict() const;
    /// The tensor with this name, or nullptr. The first call builds the name index. A name
    /// that is no tree path is looked up among the state_dict() names too, so a whole pickled
    /// module's tensor is found as "fc.weight" as well as "_modules.fc._parameters.weight".
    /// Sharded: opens the name's shard if needed; throws for a missing shard or a name the
    /// shard lacks (see above).
    [[nodiscard]] const named_tensor* find(std::string_view name) const;
    /// The tensor with this name; throws errc::not_found.
    [[nodiscard]] const ptio::tensor& at(std::string_view name) const;

    /// Sharded: every shard's path (the index's directory joined with the name it gives), in
    /// name order; empty for any other checkpoint. Opens nothing.
    [[nodiscard]] std::vector<std::string> shard_files() const;
    /// Sharded: the path of the shard the index puts `name` in (opens nothing); "" for a name
    /// the index lacks and for any other checkpoint.
    [[nodiscard]] std::string_view shard_of(std::string_view name) const noexcept;

    /// The file name given to open (or the name given with the bytes); sharded: the index's
    /// path (for a directory, the index found in it).
    [[nodiscard]] const std::string& file() const noexcept;
    /// The file's format: "zip" (torch.save ≥ 1.6), "legacy" (the magic-number format),
    /// "tar" (torch ≤ 0.1.9), "torchscript" (torch.jit.save), "sharded" (a Hugging Face index).
    [[nodiscard]] std::string_view format() const noexcept;
    /// "little" or "big": the byte order the file says its storages have ("little" for a
    /// sharded checkpoint: each shard's own is applied to its storages).
    [[nodiscard]] std::string_view byteorder() const noexcept;
    /// True when the bytes are private, writable mappings of files: opened from a path with
    /// open_options::copy_on_write (sharded: its shards are). A load with
    /// cpu_placement::copy_on_write needs one; writes through its views never reach the file.
    /// False for bytes in memory and for read-only mappings.
    [[nodiscard]] bool is_copy_on_write() const noexcept;
    /// The archive's top folder ("archive", "model"); "" for a sharded checkpoint.
    [[nodiscard]] std::string_view prefix() const noexcept;
    /// Every record of the archive, in central-directory order (built on first call); empty
    /// for a sharded checkpoint.
    [[nodiscard]] std::span<const record_info> records() const;

    /// The names of the archive's extra files (the records under extra/, which
    /// torch.jit.save(..., _extra_files=…) writes), in central-directory order; empty for
    /// a file without any.
    [[nodiscard]] std::vector<std::string> extra_files() const;
    /// The bytes of the extra file `name` (inflated when deflated, CRC-32 checked); throws
    /// errc::not_found when the archive has no such extra file.
    [[nodiscard]] std::vector<std::byte> extra_file(std::string_view name) const;

    /// Every distinct global the file's pickles named, in the order they were first named
    /// (the same global named under two spellings, or in two pickles, is listed each time).
    /// Built while opening; sharded: every shard's (opens every shard, and throws as
    /// tensors() does).
    [[nodiscard]] std::span<const global_ref> globals() const;

    /// Check everything open deferred: locate every record's bytes (local headers), inflate
    /// deflated records and compare every CRC-32; in a legacy file, compare each storage's
    /// element count with its reference. Calls `problem` once per problem found and
    /// returns the count; never throws for a problem in the file, but throws io_error when
    /// the file shrinks while it is read (no record can be trusted then). Sharded: opens and verifies
    /// every shard (a shard that does not open is one problem).
    std::size_t verify(const std::function<void(const error&)>& problem) const;

private:
    explicit checkpoint(std::unique_ptr<detail::checkpoint_source> source) noexcept;
    std::unique_ptr<detail::checkpoint_source> source_;  // a single file or an index of shards
};

}  // namespace ptio
