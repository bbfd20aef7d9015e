// checkpoint_access — what ptio's own modules may ask a checkpoint beyond its public API.
#pragma once

#include "io/mapped_file.hpp"
#include "ptio/checkpoint.hpp"

namespace ptio::detail {

struct checkpoint_access {
    /// The bytes are a read-only mapping of a file: pages may be dropped from this process
    /// (madvise DONTNEED) after reading and come back unchanged from the page cache.
    [[nodiscard]] static bool maps_file_read_only(const checkpoint& ck) noexcept;
    /// The mapping is private and writable (open_options::copy_on_write).
    [[nodiscard]] static bool is_copy_on_write(const checkpoint& ck) noexcept;
    /// The checkpoint's bytes.
    [[nodiscard]] static const mapped_file& mapping(const checkpoint& ck) noexcept;
};

}  // namespace ptio::detail
