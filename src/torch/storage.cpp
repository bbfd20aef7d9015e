// Locating a storage's bytes on first access: the mapping where it can be viewed as is,
// an owned copy where it must be inflated, aligned or byte-swapped.
#include "torch/storage.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>

#include "ptio/error.hpp"
#include "torch/tensor_access.hpp"

namespace ptio::detail {

const storage* storage_of(const tensor_view& v) noexcept { return tensor_access::storage_of(v); }

void swap_elements(std::span<std::byte> bytes, dtype type) noexcept {
    std::size_t width = element_size(type);
    if (is_complex(type)) width /= 2;
    if (width <= 1) return;
    for (std::size_t i = 0; i + width <= bytes.size(); i += width)
        std::reverse(bytes.begin() + static_cast<std::ptrdiff_t>(i),
                     bytes.begin() + static_cast<std::ptrdiff_t>(i + width));
}

namespace {
// The alignment an element's loads need: a complex number's is its parts'.
std::size_t element_alignment(dtype type) noexcept {
    std::size_t a = element_size(type);
    if (is_complex(type)) a /= 2;
    return std::max<std::size_t>(a, 1);
}
}  // namespace

void storage::check_count() const {
    const span_part& p = *span_;
    if (!p.count_field) return;
    std::uint64_t count = 0;
    std::memcpy(&count, p.count_field, sizeof count);
    if constexpr (std::endian::native == std::endian::big) count = __builtin_bswap64(count);
    if (count != p.expected_count)
        throw error(errc::bad_storage, p.file, p.record, p.offset - sizeof count,
                    "storage '" + key_ + "' holds " + std::to_string(count) + " elements in the file but " +
                        std::to_string(p.expected_count) + " in its reference");
}

void storage::resolve_span() const {
    const span_part& p = *span_;
    if (!p.located)
        throw error(errc::bad_storage, p.file, p.record, std::nullopt,
                    "storage '" + key_ + "' has no bytes in the file");
    if (p.root) {  // a window of the root's bytes: aligned wherever the root's are
        const auto all = p.root->bytes();
        bytes_ = all.subspan(static_cast<std::size_t>(p.root_offset), static_cast<std::size_t>(nbytes_));
        copied_ = p.root->is_copy();
        return;
    }
    check_count();
    const bool swap = opts_.swap_bytes && element_size(swap_type_) > 1;
    const bool misaligned =
        reinterpret_cast<std::uintptr_t>(p.bytes.data()) % element_alignment(swap_type_) != 0;
    if (!swap && !misaligned) {
        bytes_ = p.bytes.first(static_cast<std::size_t>(nbytes_));
        copied_ = opts_.file == nullptr;  // not the file's bytes: ptio's (a numpy array's pickle copy)
        return;
    }
    owned_.assign(p.bytes.begin(), p.bytes.begin() + static_cast<std::ptrdiff_t>(nbytes_));
    if (swap) swap_elements(owned_, swap_type_);
    bytes_ = owned_;
    copied_ = true;
}

void storage::resolve() const {
    std::call_once(once_, [this] {
        if (!archive_) {
            resolve_span();
            return;
        }
        const bool stored = entry_->method == 0;
        const bool needs_copy = !stored || (opts_.swap_bytes && element_size(swap_type_) > 1);
        if (!needs_copy) {
            auto span = archive_->stored(*entry_);
            if (opts_.verify_crc) archive_->check_crc(*entry_, span);
            bytes_ = span.first(static_cast<std::size_t>(nbytes_));
            return;
        }
        std::vector<std::byte> copy = archive_->extract(*entry_);
        if (opts_.verify_crc) archive_->check_crc(*entry_, copy);
        copy.resize(static_cast<std::size_t>(nbytes_));
        if (opts_.swap_bytes) swap_elements(copy, swap_type_);
        owned_ = std::move(copy);
        bytes_ = owned_;
        copied_ = true;
    });
    resolved_ = true;
}

void storage::read_range(std::uint64_t offset, std::uint64_t length, std::size_t piece,
                         const std::function<void(std::span<const std::byte>)>& sink) const {
    piece = std::max<std::size_t>(piece, 1);
    const bool deflated = archive_ != nullptr && entry_->method != 0;
    const bool swap = opts_.swap_bytes && element_size(swap_type_) > 1;
    const std::uint64_t end = offset + length;  // inside nbytes(): the caller's view is checked
    bool stream = deflated && !swap && !resolved_;
    // What the stream reads: the whole record when its CRC is to be checked (only a zip
    // record has one; legacy and tar storages are never streamed).
    const std::uint64_t cost = stream && opts_.verify_crc ? entry_->size : end;
    if (stream) {  // spend from the budget of twice the record's size, or read bytes()
        const std::uint64_t budget = 2 * entry_->size;
        std::uint64_t spent = streamed_.load();
        do stream = spent <= budget && cost <= budget - spent;
        while (stream && !streamed_.compare_exchange_weak(spent, spent + cost));
    }
    if (!stream) {
        const auto all = bytes().subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
        for (std::size_t at = 0; at < all.size(); at += piece)
            sink(all.subspan(at, std::min(piece, all.size() - at)));
        return;
    }
    std::uint64_t at = 0;  // of the stream
    std::uint32_t crc = 0;
    archive_->read_payload(*entry_, cost, piece, [&](std::span<const std::byte> got) {
        if (opts_.verify_crc) crc = zip::crc32_update(crc, got);
        const std::uint64_t from = std::max(at, offset);
        const std::uint64_t to = std::min(at + got.size(), end);
        if (from < to)
            sink(got.subspan(static_cast<std::size_t>(from - at), static_cast<std::size_t>(to - from)));
        at += got.size();
    });
    if (opts_.verify_crc) archive_->compare_crc(*entry_, crc);
}

std::span<const std::byte> storage::bytes() const {
    try {
        resolve();
    } catch (const std::bad_alloc&) {
        throw error(errc::limit_exceeded, archive_ ? archive_->filename() : span_->file, std::string(record()), offset(),
                    "out of memory copying the storage (" + std::to_string(nbytes_) + " bytes)");
    }
    return bytes_;
}

std::span<const std::byte> storage::copy_source(bool& in_file) const {
    const bool swap = opts_.swap_bytes && element_size(swap_type_) > 1;
    if (archive_ || swap || !span_->located) {  // zip records, swapped spans: what bytes() gives
        const auto b = bytes();
        in_file = !is_copy();
        return b;
    }
    if (span_->root) {
        const auto all = span_->root->copy_source(in_file);
        return all.subspan(static_cast<std::size_t>(span_->root_offset), static_cast<std::size_t>(nbytes_));
    }
    check_count();
    in_file = opts_.file != nullptr;
    return span_->bytes.first(static_cast<std::size_t>(nbytes_));
}

bool storage::is_copy() const {
    resolve();
    return copied_;
}

}  // namespace ptio::detail
