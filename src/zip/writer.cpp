#include "zip/writer.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <thread>

#include "io/guard.hpp"
#include "ptio/error.hpp"
#include "zip/archive.hpp"
#include "zip/format.hpp"

namespace ptio::detail::zip {
namespace {

// Payloads past this are checksummed on worker threads while they are written.
constexpr std::size_t parallel_crc_min = std::size_t{16} << 20;

class bytes_out {
public:
    explicit bytes_out(std::vector<std::byte>& b) : b_(b) { b_.clear(); }
    void u16(std::uint64_t v) { le(v, 2); }
    void u32(std::uint64_t v) { le(v, 4); }
    void u64(std::uint64_t v) { le(v, 8); }
    void text(std::string_view s) {
        const auto* p = reinterpret_cast<const std::byte*>(s.data());
        b_.insert(b_.end(), p, p + s.size());
    }
    void fill(std::size_t n, char c) { b_.insert(b_.end(), n, static_cast<std::byte>(c)); }

private:
    void le(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b_.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
    }
    std::vector<std::byte>& b_;
};

// A payload may be a mapping of a file that shrinks while it is copied: the checksum reads
// it under a guard (io_error, not SIGBUS).
std::uint32_t guarded_crc32(std::span<const std::byte> bytes) {
    std::uint32_t crc = 0;
    guarded(bytes, {}, [&]() noexcept { crc = crc32(bytes); });
    check_still_mapped(bytes);
    return crc;
}

std::uint32_t combine(std::uint32_t a, std::uint32_t b, std::uint64_t b_len) noexcept {
    return static_cast<std::uint32_t>(
        ::crc32_combine64(a, b, static_cast<z_off64_t>(b_len)));
}

}  // namespace

std::uint32_t crc32_parallel(std::span<const std::byte> bytes, unsigned threads) {
    if (threads == 0 || bytes.size() < parallel_crc_min) return guarded_crc32(bytes);
    const std::size_t parts = threads + 1;
    const std::size_t step = (bytes.size() + parts - 1) / parts;
    std::vector<std::uint32_t> crcs(parts);
    std::vector<std::exception_ptr> failed(parts);  // a worker's error, rethrown after the join
    {
        std::vector<std::jthread> workers;
        for (std::size_t i = 1; i < parts; ++i)
            workers.emplace_back([&, i] {
                const std::size_t at = std::min(bytes.size(), i * step);
                try {
                    crcs[i] = guarded_crc32(bytes.subspan(at, std::min(step, bytes.size() - at)));
                } catch (...) {
                    failed[i] = std::current_exception();
                }
            });
        try {
            crcs[0] = guarded_crc32(bytes.first(std::min(step, bytes.size())));
        } catch (...) {
            failed[0] = std::current_exception();
        }
    }
    for (const auto& f : failed)
        if (f) std::rethrow_exception(f);
    std::uint32_t crc = crcs[0];
    for (std::size_t i = 1; i < parts; ++i) {
        const std::size_t at = std::min(bytes.size(), i * step);
        crc = combine(crc, crcs[i], std::min(step, bytes.size() - at));
    }
    return crc;
}

writer::writer(sink& out, std::string prefix, options opts)
    : out_(out), prefix_(std::move(prefix)), opts_(opts) {
    if (opts_.alignment == 0 || (opts_.alignment & (opts_.alignment - 1)) != 0 ||
        opts_.alignment > 4096)
        throw error(errc::invalid_argument, "zip alignment must be a power of two ≤ 4096, not " +
                                                std::to_string(opts_.alignment));
    if (prefix_.empty() || prefix_.find('/') != std::string::npos)
        throw error(errc::invalid_argument,
                    "the archive prefix must be one non-empty folder name, not '" + prefix_ + "'");
}

void writer::add(std::string_view record, std::span<const std::byte> payload) {
    if (finished_) throw error(errc::invalid_argument, "zip writer: add after finish");
    const std::string name = prefix_ + "/" + std::string(record);
    if (name.size() > 0xFFFF)
        throw error(errc::invalid_argument, "record name longer than 65535 bytes: " + name);
    const std::uint64_t offset = out_.position();
    const std::uint64_t size = payload.size();
    const bool big_size = size >= u32_max;
    const bool big_offset = offset >= u32_max;
    const std::size_t zip64_extra = big_size || big_offset ? 4 + (big_size ? 16 : 0) + (big_offset ? 8 : 0) : 0;
    zip64_ = zip64_ || zip64_extra != 0;

    // The payload starts at the next multiple of the alignment after the
    // header, the name, the ZIP64 extra and the FB field's own 4 bytes.
    const std::uint64_t start = offset + 30 + name.size() + zip64_extra + 4;
    const std::uint64_t aligned = (start + opts_.alignment - 1) / opts_.alignment * opts_.alignment;
    const std::size_t pad = static_cast<std::size_t>(aligned - start);
    const std::uint16_t flags = size == 0 ? 0x0800 : 0x0808;

    bytes_out h(scratch_);
    h.u32(local_sig);
    h.u16(0);  // version needed, as torch writes it
    h.u16(flags);
    h.u16(0);  // stored
    h.u16(0);  // time
    h.u16(0);  // date
    h.u32(0);  // CRC, sizes: in the descriptor
    h.u32(0);
    h.u32(0);
    h.u16(name.size());
    h.u16(zip64_extra + 4 + pad);
    h.text(name);
    if (zip64_extra != 0) {
        h.u16(1);
        h.u16(zip64_extra - 4);
        if (big_size) {
            h.u64(size);
            h.u64(0);  // compressed size: torch leaves it to the descriptor
        }
        if (big_offset) h.u64(offset);
    }
    h.text("FB");
    h.u16(pad);
    h.fill(pad, 'Z');
    out_.write(scratch_);

    std::uint32_t crc = 0;
    if (opts_.crc32 && size >= parallel_crc_min && opts_.crc_threads > 0) {
        std::exception_ptr failed;
        {
            std::jthread checksum([&] {
                try {
                    crc = crc32_parallel(payload, opts_.crc_threads - 1);
                } catch (...) {
                    failed = std::current_exception();
                }
            });
            out_.write(payload);
        }
        if (failed) std::rethrow_exception(failed);
    } else {
        if (opts_.crc32) crc = guarded_crc32(payload);
        out_.write(payload);
    }

    if (size != 0) {
        bytes_out d(scratch_);
        d.u32(descriptor_sig);
        d.u32(crc);
        if (big_size || big_offset) {
            d.u64(size);
            d.u64(size);
        } else {
            d.u32(size);
            d.u32(size);
        }
        out_.write(scratch_);
    }
    entries_.push_back({name, offset, size, crc, flags});
}

void writer::finish() {
    if (finished_) return;
    finished_ = true;
    const std::uint64_t cd_offset = out_.position();
    bytes_out c(scratch_);
    for (const auto& e : entries_) {
        const bool big_size = e.size >= u32_max;
        const bool big_offset = e.header_offset >= u32_max;
        const std::size_t extra = big_size || big_offset ? 4 + (big_size ? 16 : 0) + (big_offset ? 8 : 0) : 0;
        c.u32(central_sig);
        c.u16(0);  // made by
        c.u16(0);  // needed
        c.u16(e.flags);
        c.u16(0);
        c.u16(0);
        c.u16(0);
        c.u32(e.crc);
        c.u32(big_size ? u32_max : e.size);
        c.u32(big_size ? u32_max : e.size);
        c.u16(e.name.size());
        c.u16(extra);
        c.u16(0);  // comment
        c.u16(0);  // disk
        c.u16(0);  // internal attributes
        c.u32(0);  // external attributes
        c.u32(big_offset ? u32_max : e.header_offset);
        c.text(e.name);
        if (extra != 0) {
            c.u16(1);
            c.u16(extra - 4);
            if (big_size) {
                c.u64(e.size);
                c.u64(e.size);
            }
            if (big_offset) c.u64(e.header_offset);
        }
        if (scratch_.size() >= (std::size_t{1} << 20)) {
            out_.write(scratch_);
            scratch_.clear();
        }
    }
    out_.write(scratch_);
    const std::uint64_t cd_size = out_.position() - cd_offset;
    const std::uint64_t zip64_end = out_.position();
    const std::uint64_t n = entries_.size();
    bytes_out e(scratch_);
    e.u32(zip64_eocd_sig);
    e.u64(44);
    e.u16(0x031E);
    e.u16(0x002D);
    e.u32(0);
    e.u32(0);
    e.u64(n);
    e.u64(n);
    e.u64(cd_size);
    e.u64(cd_offset);
    e.u32(zip64_locator_sig);
    e.u32(0);
    e.u64(zip64_end);
    e.u32(1);
    e.u32(eocd_sig);
    e.u16(0);
    e.u16(0);
    e.u16(std::min<std::uint64_t>(n, 0xFFFF));
    e.u16(std::min<std::uint64_t>(n, 0xFFFF));
    e.u32(std::min<std::uint64_t>(cd_size, u32_max));
    e.u32(std::min<std::uint64_t>(cd_offset, u32_max));
    e.u16(0);
    out_.write(scratch_);
}

}  // namespace ptio::detail::zip
