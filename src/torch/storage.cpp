// Locating a storage's bytes on first access: the mapping where it can be viewed as is,
// an owned copy where it must be inflated, aligned or byte-swapped.
#include "torch/storage.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <mutex>
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

storage::~storage() {
    if (!archive_) delete span_;
}

namespace {
// The first access of a storage is serialised by one of a few locks, picked by its address:
// a lock per storage would cost every storage of a checkpoint its bytes for the rare
// concurrent first access. Only the slow path (not yet resolved) takes one, and it never
// takes a second (a view resolves its root before locking).
std::mutex& first_access_lock(const void* s) noexcept {
    static std::mutex locks[64];
    return locks[(reinterpret_cast<std::uintptr_t>(s) >> 7) % 64];
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
                    "storage '" + p.key + "' holds " + std::to_string(count) + " elements in the file but " +
                        std::to_string(p.expected_count) + " in its reference");
}

void storage::resolve_span() const {
    const span_part& p = *span_;
    if (!p.located)
        throw error(errc::bad_storage, p.file, p.record, std::nullopt,
                    "storage '" + p.key + "' has no bytes in the file");
    if (p.root) {  // a window of the root's bytes (resolved before the lock was taken)
        data_ = p.root->bytes().data() + p.root_offset;
        return;
    }
    check_count();
    const bool swap = swaps();
    const bool misaligned =
        reinterpret_cast<std::uintptr_t>(p.bytes.data()) % element_alignment(swap_type_) != 0;
    if (!swap && !misaligned) {
        data_ = p.bytes.data();
        return;
    }
    auto copy = std::make_unique<std::vector<std::byte>>(
        p.bytes.begin(), p.bytes.begin() + static_cast<std::ptrdiff_t>(nbytes_));
    if (swap) swap_elements(*copy, swap_type_);
    data_ = copy->data();
    owned_ = std::move(copy);
}

void storage::resolve() const {
    if (resolved_.load(std::memory_order_acquire)) return;
    if (!archive_ && span_->root) (void)span_->root->bytes();  // before the lock: see first_access_lock
    const std::lock_guard lock(first_access_lock(this));
    if (resolved_.load(std::memory_order_relaxed)) return;
    if (!archive_) {
        resolve_span();
    } else {
        const bool stored = entry_->method == 0;
        const bool needs_copy = !stored || swaps();
        if (!needs_copy) {
            auto span = archive_->stored(*entry_);
            if (verify_crc_) archive_->check_crc(*entry_, span);
            if (span.size() < nbytes_)  // open checks this (meta records, which may be short, have no data)
                throw error(errc::bad_storage, archive_->filename(), std::string(entry_->name), entry_->header_offset,
                            "the record holds " + std::to_string(span.size()) + " bytes, fewer than its storage's " +
                                std::to_string(nbytes_));
            data_ = span.data();
        } else {
            auto copy = std::make_unique<std::vector<std::byte>>(archive_->extract(*entry_));
            if (verify_crc_) archive_->check_crc(*entry_, *copy);
            copy->resize(static_cast<std::size_t>(nbytes_));
            if (swaps()) swap_elements(*copy, swap_type_);
            data_ = copy->data();
            owned_ = std::move(copy);
        }
    }
    resolved_.store(true, std::memory_order_release);
}

void storage::read_range(std::uint64_t offset, std::uint64_t length, std::size_t piece,
                         const std::function<void(std::span<const std::byte>)>& sink) const {
    piece = std::max<std::size_t>(piece, 1);
    const bool deflated = archive_ != nullptr && entry_->method != 0;
    const bool swap = swaps();
    const std::uint64_t end = offset + length;  // inside nbytes(): the caller's view is checked
    bool stream = deflated && !swap && !resolved_;
    // What the stream reads: the whole record when its CRC is to be checked (only a zip
    // record has one; legacy and tar storages are never streamed).
    const std::uint64_t cost = stream && verify_crc_ ? entry_->size : end;
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
        if (verify_crc_) crc = zip::crc32_update(crc, got);
        const std::uint64_t from = std::max(at, offset);
        const std::uint64_t to = std::min(at + got.size(), end);
        if (from < to)
            sink(got.subspan(static_cast<std::size_t>(from - at), static_cast<std::size_t>(to - from)));
        at += got.size();
    });
    if (verify_crc_) archive_->compare_crc(*entry_, crc);
}

std::span<const std::byte> storage::bytes() const {
    try {
        resolve();
    } catch (const std::bad_alloc&) {
        throw error(errc::limit_exceeded, archive_ ? archive_->filename() : span_->file, std::string(record()), offset(),
                    "out of memory copying the storage (" + std::to_string(nbytes_) + " bytes)");
    }
    return {data_, static_cast<std::size_t>(nbytes_)};
}

std::span<const std::byte> storage::copy_source(bool& in_file) const {
    const bool swap = swaps();
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
    in_file = span_->mapped != nullptr;
    return span_->bytes.first(static_cast<std::size_t>(nbytes_));
}

bool storage::is_copy() const {
    resolve();
    if (owned_) return true;
    if (archive_) return false;
    // a window is a copy where its root is; other spans are the file's bytes, or ptio's
    // (a numpy array's bytes in an inflated pickle) where there is no file
    return span_->root ? span_->root->is_copy() : span_->mapped == nullptr;
}

}  // namespace ptio::detail
static_assert(sizeof(void*) != 8 || sizeof(ptio::detail::storage) == 64);  // one per record: keep it small (LP64)
