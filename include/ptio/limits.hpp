// ptio/limits.hpp — what opening a file may cost, and how it opens.
//
// `limits` caps what an untrusted file may ask for: each cap is checked before anything is
// allocated, and passing one throws ptio::error with errc::limit_exceeded. `open_options`
// carries them with the other choices made when a file is opened (checkpoint::open,
// ptio::load). Plain aggregates: copy them freely; they hold no resources.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ptio {

/// Caps on what an untrusted pickle may ask for; each is checked before allocating.
struct limits {
    std::size_t max_stack = std::size_t{1} << 24;       ///< values on the unpickler stack
    std::size_t max_memo = std::size_t{1} << 24;        ///< memo entries
    std::size_t max_depth = 1000;                       ///< container nesting
    std::uint64_t max_pickle_bytes = std::uint64_t{1} << 32;  ///< size of data.pkl
    std::size_t max_records = std::size_t{1} << 22;     ///< zip entries
    std::size_t max_dims = 64;                          ///< tensor rank
    /// Values the unpickled tree may hold (containers, strings, objects, …). A state dict of
    /// 100k tensors holds about a million; this is for files far past that.
    std::size_t max_nodes = std::size_t{1} << 24;
    /// Memory the unpickled tree may take: its nodes, their strings, item and entry slots and
    /// key indexes, the memo and the stack, and a deflated pickle's inflated copy. The
    /// smaller of this and the relative cap below applies.
    std::uint64_t max_metadata_bytes = std::uint64_t{8} << 30;
    /// The cap relative to the file: metadata_floor_bytes plus this many bytes of metadata
    /// per byte the pickles take in the file (compressed, when deflated). torch's own
    /// pickles need 16 to 23 per byte (what the tree holds while it is built: a str node is
    /// 48 bytes, a tuple 64, a dict 112); a deflated pickle of tiny containers needs tens
    /// of thousands, so a small file cannot cost much more than its size times this. The
    /// default leaves real files about three times what they need. 0: no relative cap.
    std::uint64_t metadata_per_pickle_byte = 64;
    std::uint64_t metadata_floor_bytes = std::uint64_t{16} << 20;  ///< see metadata_per_pickle_byte
};

struct open_options {
    /// Map copy-on-write so views may be written through const_cast-free APIs later; writes
    /// never reach the file. Read-only (the default) is cheaper.
    bool copy_on_write = false;
    /// Check each record's CRC-32 (when its directory gives one) as its bytes are first read.
    /// Off by default, as in torch, since checking reads every page.
    bool verify_crc = false;
    /// Refuse any global outside torch's weights_only allowlist with
    /// errc::forbidden_global, as torch.load(weights_only=True) does. Off: other classes
    /// become opaque objects (never called).
    bool weights_only = false;
    limits caps{};
};

}  // namespace ptio
