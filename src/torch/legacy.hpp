// legacy — the formats torch.save wrote before its zip archive.
//
// The magic-number format (torch 0.1.10 to 1.5, and _use_new_zipfile_serialization=False
// since) is five pickles followed by the storage blobs; the tar format (torch ≤ 0.1.9) is a
// POSIX tar of the members sys_info, pickle, tensors and storages. Both are read in place:
// every storage becomes a span of the caller's bytes (storage::locate), copied later only
// where its address is not aligned for its element type or the host is big-endian.
//
// legacy.cpp reads the first, tar.cpp the second. The rebuilder passed in must use
// id_style::legacy or id_style::tar; nodes go into `nodes`. Not thread-safe.
// Failure: ptio::error naming the file, the part (a pickle or a tar member) and the offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "torch/rebuild.hpp"

namespace ptio::detail::torch {

/// True when the bytes start with the pickled magic number of the legacy format, in any
/// pickle protocol.
[[nodiscard]] bool looks_like_legacy(std::span<const std::byte> bytes) noexcept;
/// True when the bytes start with a POSIX tar header.
[[nodiscard]] bool looks_like_tar(std::span<const std::byte> bytes) noexcept;

/// The object of a legacy file; every storage it references located in `bytes`.
[[nodiscard]] value read_legacy(std::span<const std::byte> bytes, rebuilder& rb, arena& nodes,
                                const limits& caps);
/// The object of a tar file; every storage and tensor of its members located in `bytes`.
[[nodiscard]] value read_tar(std::span<const std::byte> bytes, rebuilder& rb, arena& nodes,
                             const limits& caps);

/// A tar member whose bytes start with a pickle, for scanning: name and absolute offset.
struct tar_pickle {
    std::string name;
    std::uint64_t offset;
    std::span<const std::byte> bytes;
};
/// The sys_info and pickle members of a tar file (the storages and tensors members mix
/// pickles with blobs; only open reads those). Throws as read_tar does for a broken tar.
[[nodiscard]] std::vector<tar_pickle> tar_pickles(std::span<const std::byte> bytes,
                                                  const std::string& file, const limits& caps);

}  // namespace ptio::detail::torch
