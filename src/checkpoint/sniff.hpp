// sniff — which opener a path or the first bytes of a file go to, and, when none takes
// them, the refusal that names what the bytes are instead.
//
// Reads only the first bytes (bytes) or the directory entry (path); pure functions, safe from
// many threads. Failure: sniff() throws ptio::error (not_a_checkpoint or unsupported_format)
// naming the file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace ptio::detail {

/// True when checkpoint::open should read `path` as a Hugging Face index: a directory, or a
/// file whose name ends in ".index.json".
[[nodiscard]] bool is_index(const std::filesystem::path& path);
/// The name half of is_index: the file name ends in ".index.json" (no lookup of the path).
[[nodiscard]] bool has_index_suffix(const std::filesystem::path& path);

/// The layouts of one torch.save file, each with its own opener.
enum class file_layout {
    zip,     ///< torch.save ≥ 1.6 and TorchScript: a zip archive
    tar,     ///< torch ≤ 0.1.9: a POSIX tar
    legacy,  ///< the magic-number format: pickles, then the storage blobs
};

/// The layout `bytes` start with. Throws for bytes of none, saying what they look like (an
/// empty file, a Git LFS pointer, a web page, a safetensors file, …); `file` names them.
[[nodiscard]] file_layout sniff(std::span<const std::byte> bytes, const std::string& file);

}  // namespace ptio::detail
