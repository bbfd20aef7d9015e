// ptio/error.hpp — the one exception type ptio throws, and its codes.
//
// Every failure a caller can cause (a bad file, a missing record, a bad argument) throws
// ptio::error. Its message names the file, the record and the byte offset involved, in the
// form "<file>: <record>: at offset <n>: <what went wrong>" (parts that do not apply are left
// out). Broken internal invariants are assertions, never ptio::error.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ptio {

/// What kind of failure an error reports. Stable: tests and callers switch on these.
enum class errc : std::uint8_t {
    io_error,            ///< the file could not be opened, sized or mapped (or is a directory); on save, created or written
    not_a_checkpoint,    ///< the bytes are no format ptio knows (HTML, Git LFS pointer, empty, …)
    unsupported_format,  ///< a known format ptio does not read (yet): legacy, tar, pre-1.3 TorchScript, …
    truncated,           ///< a structure runs past the end of the file or of its record
    bad_zip,             ///< the zip container is inconsistent: signatures, offsets, overlaps, names
    missing_record,      ///< a record the format requires (data.pkl, data/<key>) is absent
    compression_error,   ///< a deflated record does not inflate, or uses another method
    crc_mismatch,        ///< a record's CRC-32 differs from the one its directory entry gives
    bad_pickle,          ///< the pickle stream is malformed (stack underflow, bad argument, …)
    unknown_opcode,      ///< the pickle uses an opcode ptio does not run (unknown, EXT*, buffers)
    unsafe_global,       ///< the pickle names a callable that can run code (os.system, eval, …) or aims SETITEMS/BUILD at a class; or a tree to save holds a global outside the allowlist
    forbidden_global,    ///< weights_only mode: a global outside torch's weights_only allowlist
    bad_storage,         ///< a storage reference is malformed or disagrees with its record
    bad_tensor,          ///< a tensor's dtype, shape, strides or offset are invalid for its storage
    limit_exceeded,      ///< a count, length, depth or size passes one of ptio's caps
    not_found,           ///< a name asked for is not in the checkpoint
    invalid_argument,    ///< the caller passed something invalid
    cuda_unavailable,    ///< a CUDA destination was asked for but no CUDA device can be used
    unknown_location,    ///< a saved location tag names a device ptio cannot restore (mps, xpu, …)
    out_of_memory,       ///< device (or pinned host) memory could not be allocated
    cancelled,           ///< a load was stopped by its progress callback or by cancel()
};

/// The name of a code as written in this header ("bad_zip").
[[nodiscard]] std::string_view to_string(errc code) noexcept;

/// The exception ptio throws. Copyable; what() is the full message.
class error : public std::runtime_error {
public:
    /// file, record and offset are optional context; what() joins them with the detail.
    error(errc code, std::string file, std::string record, std::optional<std::uint64_t> offset,
          std::string detail);
    error(errc code, std::string detail);

    [[nodiscard]] errc code() const noexcept { return code_; }
    [[nodiscard]] const std::string& file() const noexcept { return file_; }
    [[nodiscard]] const std::string& record() const noexcept { return record_; }
    [[nodiscard]] std::optional<std::uint64_t> offset() const noexcept { return offset_; }
    [[nodiscard]] const std::string& detail() const noexcept { return detail_; }

private:
    errc code_;
    std::string file_;
    std::string record_;
    std::optional<std::uint64_t> offset_;
    std::string detail_;
};

}  // namespace ptio
