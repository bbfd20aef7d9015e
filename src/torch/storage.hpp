// storage — one storage record of a checkpoint, located lazily.
//
// Open reads only the central directory entry of a storage record. The first call to bytes()
// reads its local header and hands out the mapping's span (stored record), or inflates it
// (deflated) or byte-swaps a copy (foreign byte order) into memory the storage owns. That
// first access is serialised with std::call_once, so bytes() is safe from many threads; if
// it throws, the next call tries again and throws again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "ptio/dtype.hpp"
#include "zip/archive.hpp"

namespace ptio::detail {

class storage {
public:
    struct options {
        bool swap_bytes = false;  ///< the file's byte order is not the host's
        bool verify_crc = false;
    };

    storage(const zip::archive& archive, const zip::entry& entry, std::string key,
            std::string location, dtype type, std::uint64_t nbytes, options opts)
        : archive_(&archive), entry_(&entry), key_(std::move(key)),
          location_(std::move(location)), dtype_(type), swap_type_(type), nbytes_(nbytes),
          opts_(opts) {}

    [[nodiscard]] std::span<const std::byte> bytes() const;
    [[nodiscard]] bool is_copy() const;

    [[nodiscard]] const std::string& key() const noexcept { return key_; }
    [[nodiscard]] const std::string& location() const noexcept { return location_; }
    [[nodiscard]] const std::string& record() const noexcept { return entry_->name; }
    [[nodiscard]] dtype type() const noexcept { return dtype_; }

    /// An untyped storage (v3 tensors) learns its element width from the first tensor that
    /// views it, so a foreign byte order is swapped per element (FORMAT.md §1.10). Only
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

    const zip::archive* archive_;
    const zip::entry* entry_;
    std::string key_;
    std::string location_;
    dtype dtype_;
    dtype swap_type_;
    bool view_type_set_ = false;
    std::uint64_t nbytes_;
    options opts_;
    mutable std::once_flag once_;
    mutable std::span<const std::byte> bytes_;
    mutable std::vector<std::byte> owned_;
    mutable bool copied_ = false;  // the bytes are owned_ (inflated or swapped), not the file
};

/// Reverse the bytes of each element in place (complex types: each half).
void swap_elements(std::span<std::byte> bytes, dtype type) noexcept;

}  // namespace ptio::detail
