// storage — one storage of a checkpoint, located lazily.
//
// Two sources. A zip record (torch.save ≥ 1.6, TorchScript): open reads only its central
// directory entry; the first call to bytes() reads its local header and hands out the
// mapping's span (stored record), or inflates it (deflated) or byte-swaps a copy (foreign
// byte order) into memory the storage owns. A span of bytes already located (a blob of the
// legacy or tar format, the raw bytes of a numpy array inside data.pkl): handed out as is,
// or copied when its address is not aligned for the element type (the legacy format packs
// blobs with no padding) or its byte order is foreign. A view (legacy view metadata, the
// tar's storage views) is a window of its root's bytes, copy included: views of a root share
// one copy, as torch's share one storage (copying per view would let a small file that names
// one misaligned root under many view keys allocate without bound). That first access is serialised
// (by a lock a few storages share), so bytes() is safe from many threads; if it throws, the
// next call tries again and throws again.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "ptio/dtype.hpp"
#include "zip/archive.hpp"

namespace ptio {
class tensor_view;
}

namespace ptio::detail {

class mapped_file;

class storage {
public:
    struct options {
        bool swap_bytes = false;  ///< the file's byte order is not the host's
        bool verify_crc = false;
        /// The mapping a span storage's bytes are in (null: none), so the staging engine
        /// reads and releases each storage's pages through its own file (one per shard). A
        /// zip record's is its archive's mapping (zip::archive::mapping), not this.
        const mapped_file* file = nullptr;
    };

    /// A zip record.
    /// `location` is a text the checkpoint keeps (rebuilder::location_text): the storage
    /// and its tensors point at it.
    /// The storage's key is the last `key_size` bytes of the entry's name (its record is
    /// <dir>/<key>, or the key is the record itself outside data/).
    storage(const zip::archive& archive, const zip::entry& entry, std::size_t key_size,
            const std::string& location, dtype type, std::uint64_t nbytes, options opts)
        : archive_(&archive), entry_(&entry), location_(&location), nbytes_(nbytes), dtype_(type),
          swap_type_(type), swap_bytes_(opts.swap_bytes), verify_crc_(opts.verify_crc),
          key_size_(static_cast<std::uint16_t>(std::min(key_size, entry.name.size()))) {}

    /// Bytes at a known place; `record` names it in messages ("storage 9412…", "data.pkl").
    /// The span may be set later with locate() (the legacy format puts blobs after the
    /// pickle that references them), always before the first access.
    storage(std::string file, std::string record, std::string key, const std::string& location,
            dtype type, std::uint64_t nbytes, options opts)
        : span_(nullptr), location_(&location), nbytes_(nbytes), dtype_(type), swap_type_(type),
          swap_bytes_(opts.swap_bytes), verify_crc_(opts.verify_crc) {
        auto part = std::make_unique<span_part>();
        part->file = std::move(file);
        part->record = std::move(record);
        part->key = std::move(key);
        part->mapped = opts.file;
        span_ = part.release();
    }
    storage(const storage&) = delete;
    storage& operator=(const storage&) = delete;
    ~storage();

    /// Set the bytes of a span storage: `bytes` must hold nbytes(); `offset` is its absolute
    /// offset, for messages.
    void locate(std::span<const std::byte> bytes, std::uint64_t offset) noexcept {
        span_->bytes = bytes;
        span_->offset = offset;
        span_->located = true;
    }
    /// A span storage whose element count sits, as a u64 little-endian, at `field` (the
    /// legacy format's blob header): compared with `count` on first access, which throws
    /// bad_storage on a mismatch, as torch's reader does.
    void check_count_on_access(const std::byte* field, std::uint64_t count) noexcept {
        span_->count_field = field;
        span_->expected_count = count;
    }
    /// Make this span storage the nbytes() bytes at `byte_offset` of `root`, a span storage
    /// that is not a view itself (the caller checks the window lies inside it). The root may
    /// be located later, always before the first access.
    void view_of(const storage& root, std::uint64_t byte_offset) noexcept {
        span_->root = &root;
        span_->root_offset = byte_offset;
        span_->located = true;
    }
    /// A view's root and its byte offset in it (nullptr, 0: not a view).
    [[nodiscard]] const storage* view_root() const noexcept { return archive_ ? nullptr : span_->root; }
    [[nodiscard]] std::uint64_t view_offset() const noexcept { return archive_ ? 0 : span_->root_offset; }
    [[nodiscard]] bool located() const noexcept { return archive_ != nullptr || span_->located; }
    /// The bytes a span storage was located at, before any copy (empty for zip records and
    /// views, whose bytes are their root's).
    [[nodiscard]] std::span<const std::byte> located_span() const noexcept {
        return archive_ ? std::span<const std::byte>{} : span_->bytes;
    }
    /// Absolute offset of the first byte in the file (span storages; zip records: the local
    /// header's offset).
    [[nodiscard]] std::uint64_t offset() const noexcept {
        if (archive_) return entry_->header_offset;
        return span_->root ? span_->root->offset() + span_->root_offset : span_->offset;
    }

    [[nodiscard]] std::span<const std::byte> bytes() const;
    [[nodiscard]] bool is_copy() const;
    /// The `length` bytes at `offset` (inside nbytes()) handed to `sink` in order, in pieces
    /// of at most `piece` bytes, for readers that only look (hashes). A deflated record
    /// whose bytes() were never asked for is inflated as a stream up to the range's end and
    /// nothing is kept, so hashing it costs one piece of memory, not a copy of the record.
    /// A stream starts at the record's start whatever the range, so once the bytes streamed
    /// from one storage pass twice its size it is inflated into memory as bytes() does and
    /// read from there: many views of one record cost at most about three inflations of it.
    /// Every other storage hands out spans of bytes(). Throws what bytes() throws (with
    /// verify_crc, a streamed record is read whole and its CRC-32 compared).
    void read_range(std::uint64_t offset, std::uint64_t length, std::size_t piece,
                    const std::function<void(std::span<const std::byte>)>& sink) const;
    /// The bytes a copy should read: the file's own where they need no byte swap, even
    /// misaligned (a copy does not care; only typed views need bytes() aligned), else
    /// bytes(). `in_file` is set when they are the file's (a stored record or a located
    /// span), so the staging engine may read them with pread instead.
    [[nodiscard]] std::span<const std::byte> copy_source(bool& in_file) const;

    [[nodiscard]] std::string_view key() const noexcept {
        return archive_ ? entry_->name.substr(entry_->name.size() - key_size_) : std::string_view(span_->key);
    }
    [[nodiscard]] const std::string& location() const noexcept { return *location_; }
    [[nodiscard]] std::string_view record() const noexcept {
        return archive_ ? entry_->name : std::string_view(span_->record);
    }
    [[nodiscard]] dtype type() const noexcept { return dtype_; }
    /// The mapping the record lies in (see options::file), or nullptr.
    [[nodiscard]] const mapped_file* file() const noexcept {
        return archive_ ? archive_->mapping() : span_->mapped;
    }

    /// An untyped storage (v3 tensors) learns its element width from the first tensor that
    /// views it, so a foreign byte order is swapped per element. Only
    /// while opening, before any access.
    void note_view_type(dtype t) noexcept {
        if (!view_type_set_) {
            swap_type_ = t;
            view_type_set_ = true;
        }
    }
    [[nodiscard]] std::uint64_t nbytes() const noexcept { return nbytes_; }

private:
    void resolve() const;
    // A foreign byte order and elements wider than a byte: the bytes are swapped on access.
    [[nodiscard]] bool swaps() const noexcept { return swap_bytes_ && element_size(swap_type_) > 1; }
    void resolve_span() const;
    void check_count() const;

    // What only a span storage needs, allocated apart so that a zip record (most storages of
    // most checkpoints) does not carry it.
    struct span_part {
        std::string file;
        std::string record;
        std::string key;
        const mapped_file* mapped = nullptr;  // null: bytes ptio made (an inflated pickle's)
        std::span<const std::byte> bytes;
        const std::byte* count_field = nullptr;  // checked on first access (legacy blobs)
        std::uint64_t expected_count = 0;
        std::uint64_t offset = 0;
        const storage* root = nullptr;  // a view: the window at root_offset of root's bytes
        std::uint64_t root_offset = 0;
        bool located = false;
    };

    // A checkpoint holds one of these per storage, so it is kept to 64 bytes: a zip record
    // or a span (the union, told apart by archive_), and what the first access finds, a
    // pointer and, for a copy, the copy, published by `resolved_` (the first access is
    // serialised by a lock shared with a few other storages).
    const zip::archive* archive_ = nullptr;  // a zip record (entry_), or null: a span (span_)
    union {
        const zip::entry* entry_;
        span_part* span_;  // owned
    };
    const std::string* location_;  // the checkpoint's text, shared by its tensors
    std::uint64_t nbytes_;
    mutable const std::byte* data_ = nullptr;  // the bytes, nbytes_ of them, once resolved_
    mutable std::unique_ptr<std::vector<std::byte>> owned_;  // inflated or swapped bytes
    mutable std::atomic<std::uint64_t> streamed_{0};  // bytes inflated by read_range streams
    dtype dtype_;
    dtype swap_type_;
    bool swap_bytes_;
    bool verify_crc_;
    bool view_type_set_ = false;
    mutable std::atomic<bool> resolved_{false};  // data_ (and owned_) are set
    std::uint16_t key_size_ = 0;  // a zip record's key: the tail of its name
};

/// The storage a view looks into (nullptr without data), for ptio's own modules.
[[nodiscard]] const storage* storage_of(const tensor_view& v) noexcept;

/// Reverse the bytes of each element in place (complex types: each half).
void swap_elements(std::span<std::byte> bytes, dtype type) noexcept;

}  // namespace ptio::detail
