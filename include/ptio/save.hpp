// ptio/save.hpp — write checkpoints that torch.load reads.
//
//   ptio::save(tree, "model.pt");                    // see tree.hpp for building one
//   std::vector<std::byte> b = ptio::save(tree);     // like torch.save into io.BytesIO
//
// The file is torch.save's zip format: a protocol-2 pickle that
// uses only opcodes torch's weights_only unpickler accepts, tensors through
// torch._utils._rebuild_tensor_v2 with their typed storage class (or _rebuild_tensor_v3 with an
// UntypedStorage for the dtypes that have none: float8, uint16/32/64, …; torch ≥ 2.1 reads
// those), every storage once under data/0, data/1, … in first-use order, payloads 64-byte
// aligned with the FB padding field, CRC-32, data descriptors, ZIP64 where a record or an
// offset passes 4 GiB, and the `byteorder`, `.format_version`, `.storage_alignment` and
// `version` records. The top folder is the file's stem ("model" for model.pt), or "archive"
// for a buffer, as torch names them.
//
// Whether torch.load(weights_only=True) accepts a file depends on the values in it: torch
// 1.13's allowlist has no floats, bytes, sets, complex numbers or devices, for example; torch
// ≥ 2.4 accepts all of those.
//
// Nothing with a name exists until the file is complete: it is written unnamed (O_TMPFILE) and
// linked into place at the end, an existing destination replaced atomically (elsewhere: a
// temporary name, removed on SIGINT/SIGTERM/SIGHUP), so a failed, interrupted or killed save
// leaves no half-written checkpoint behind. A write past `ulimit -f` is an io_error. Storage
// bytes read from an open checkpoint whose file shrinks throw io_error naming that file. Storage bytes go from their
// source (the caller's buffer, a checkpoint's mapping, a device's copy) to the file without a
// staging copy; the CRC-32s are computed on other threads while the bytes are written.
//
// What is written is an allow-list decision: by default only the globals torch's weights_only
// unpickler accepts (torch ≥ 2.4's list: rebuild functions, storage classes, dtypes,
// OrderedDict, Counter, torch.Size, torch.device, …) plus frozenset and defaultdict (with no
// factory), which run no code; save_options::allow_globals names more. An object whose
// global is outside that list, or whose arguments hold such an object (an allowed
// _rebuild_from_type_v2 called with timeit.timeit, say), is refused with unsafe_global, the
// message listing every such global and, for a tree made by tree::from(value, checkpoint),
// where the source file first names it. With save_options::drop_objects each such object is
// written as None instead (so torch.load of the file still works, and finds None where the
// object was) and listed in save_stats::dropped. A global known to run code (os.system,
// eval, cProfile.run, …) is never written, whatever the options say.
//
// Failure: ptio::error — unsafe_global (see above), invalid_argument (a tree that cannot be saved: a cycle, a tensor
// outside its storage, a quantized tensor, a storage viewed with two dtypes, an unknown object
// kind), io_error (the file cannot be created or written; names the file and the offset).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ptio/tree.hpp"

namespace ptio {

struct save_options {
    /// The archive's top folder; empty: the file's stem, or "archive" for a buffer.
    std::string prefix{};
    /// Payload alignment in bytes (a power of two ≤ 4096); torch uses 64.
    std::size_t alignment = 64;
    /// Write the CRC-32 of each record. Off writes 0, as torch ≥ 2.6 does when told to skip
    /// it; torch never checks CRCs, zip tools do.
    bool crc32 = true;
    /// fsync the file before renaming it into place.
    bool sync = false;
    /// Threads computing CRC-32s beside the writing thread; 0: min(4, cores − 1).
    unsigned crc_threads = 0;
    /// Globals to write besides the default allowlist, as "module.name"
    /// ("mypackage.models.Net"); never one known to run code.
    std::vector<std::string> allow_globals{};
    /// Write an object whose global is not allowed as None (and list it in
    /// save_stats::dropped) instead of refusing the tree.
    bool drop_objects = false;
};

/// What a save wrote, for tools.
struct save_stats {
    std::uint64_t file_bytes = 0;
    std::uint64_t storage_bytes = 0;
    std::size_t storages = 0;
    std::size_t tensors = 0;
    bool zip64 = false;
    /// With save_options::drop_objects: each global whose objects were written as None,
    /// once, as "module.name", followed by " (FILE RECORD at offset N)" where known.
    std::vector<std::string> dropped{};
};

/// Write `root` as a checkpoint file at `path`.
save_stats save(const tree& root, const std::filesystem::path& path, const save_options& options = {});
/// Write `root` into memory.
[[nodiscard]] std::vector<std::byte> save(const tree& root, const save_options& options = {});

}  // namespace ptio
