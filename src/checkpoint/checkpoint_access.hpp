// checkpoint_access — what ptio's own modules may ask a checkpoint beyond its public API.
#pragma once

#include "io/mapped_file.hpp"
#include "ptio/checkpoint.hpp"

namespace ptio::detail {

struct checkpoint_access {
    /// The bytes are read-only mappings of files (one per shard): pages may be dropped from
    /// this process (madvise DONTNEED) after reading and come back unchanged from the page
    /// cache. Each storage names its own mapping (storage::file()).
    [[nodiscard]] static bool maps_file_read_only(const checkpoint& ck) noexcept;
    /// The mapping is private and writable (open_options::copy_on_write).
    [[nodiscard]] static bool is_copy_on_write(const checkpoint& ck) noexcept;
};

}  // namespace ptio::detail
