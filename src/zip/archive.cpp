#include "zip/archive.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "io/cursor.hpp"
#include "io/guard.hpp"
#include "ptio/error.hpp"
#include "zip/format.hpp"

namespace ptio::detail::zip {
namespace {

constexpr std::size_t eocd_size = 22;
constexpr std::size_t locator_size = 20;
constexpr std::size_t central_size = 46;
constexpr std::size_t local_size = 30;
// Deflate cannot expand data by more than about 1032:1; a larger claimed ratio is a lie that
// would make us allocate for nothing.
constexpr std::uint64_t max_inflate_ratio = 1032;

std::uint32_t load_u32(const std::byte* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

}  // namespace

bool looks_like_zip(std::span<const std::byte> bytes) noexcept {
    return bytes.size() >= 4 && load_u32(bytes.data()) == local_sig;
}

archive::archive(std::span<const std::byte> file, std::string filename, std::size_t max_records)
    : file_(file), filename_(std::move(filename)) {
    read_directory(max_records);
}

void archive::read_directory(std::size_t max_records) {
    const source whole{filename_, "zip end record", 0};
    cursor all(file_, whole);
    if (file_.size() < eocd_size)
        all.fail_at(errc::truncated, file_.size(),
                    "the file is " + std::to_string(file_.size()) +
                        " bytes, too short for a zip end-of-central-directory record");

    // 1. The end record: scan back over at most a 64 KiB comment.
    const std::size_t last = file_.size() - eocd_size;
    const std::size_t first = last > 0xFFFF ? last - 0xFFFF : 0;
    std::size_t eocd = SIZE_MAX;
    for (std::size_t p = last + 1; p-- > first;) {
        if (load_u32(file_.data() + p) == eocd_sig) {
            eocd = p;
            break;
        }
    }
    if (eocd == SIZE_MAX)
        all.fail_at(errc::truncated, file_.size(),
                    "no zip end-of-central-directory record in the last " +
                        std::to_string(file_.size() - first) +
                        " bytes: the file is truncated or not a zip archive");

    all.seek(eocd + 4, "end record");
    const auto disk = all.u16("end record");
    const auto cd_disk = all.u16("end record");
    std::uint64_t count = all.u16("end record");
    (void)all.u16("end record");  // entries in total (one disk: the same)
    std::uint64_t cd_size = all.u32("end record");
    std::uint64_t cd_offset = all.u32("end record");
    std::uint64_t cd_end_limit = eocd;  // the directory must end before this

    // 2. ZIP64: a locator just before the end record points at the ZIP64 end record.
    if (eocd >= locator_size && load_u32(file_.data() + eocd - locator_size) == zip64_locator_sig) {
        cursor loc(file_, {filename_, "zip64 locator", 0});
        loc.seek(eocd - locator_size + 4, "zip64 locator");
        (void)loc.u32("zip64 locator");
        const std::uint64_t z64 = loc.u64("zip64 locator");
        if (z64 > eocd - locator_size || eocd - locator_size - z64 < 56)
            loc.fail_at(errc::bad_zip, eocd - locator_size,
                        "the zip64 locator points at offset " + std::to_string(z64) +
                            ", which leaves no room for a zip64 end record before it");
        cursor rec(file_, {filename_, "zip64 end record", 0});
        rec.seek(static_cast<std::size_t>(z64), "zip64 end record");
        if (rec.u32("zip64 end record") != zip64_eocd_sig)
            rec.fail_at(errc::bad_zip, z64, "no zip64 end record signature where the locator points");
        (void)rec.u64("zip64 end record");  // size of the rest
        (void)rec.u16("zip64 end record");  // made by
        (void)rec.u16("zip64 end record");  // needed
        (void)rec.u32("zip64 end record");  // disk
        (void)rec.u32("zip64 end record");  // cd disk
        (void)rec.u64("zip64 end record");  // entries on this disk
        count = rec.u64("zip64 end record");
        cd_size = rec.u64("zip64 end record");
        cd_offset = rec.u64("zip64 end record");
        cd_end_limit = z64;
    } else if (disk != 0 || cd_disk != 0) {
        all.fail_at(errc::bad_zip, eocd, "multi-disk zip archives are not supported");
    }

    std::uint64_t cd_end = 0;
    if (add_overflows(cd_offset, cd_size, cd_end) || cd_end > cd_end_limit)
        all.fail_at(errc::bad_zip, eocd,
                    "the central directory (offset " + std::to_string(cd_offset) + ", " +
                        std::to_string(cd_size) + " bytes) does not end before the end record at " +
                        std::to_string(cd_end_limit));
    if (count > cd_size / central_size)
        all.fail_at(errc::bad_zip, eocd,
                    "the end record claims " + std::to_string(count) +
                        " entries, more than a central directory of " + std::to_string(cd_size) +
                        " bytes can hold");
    if (count > max_records)
        all.fail_at(errc::limit_exceeded, eocd,
                    "the archive has " + std::to_string(count) + " entries, over the cap of " +
                        std::to_string(max_records));
    if (count == 0) all.fail_at(errc::bad_zip, eocd, "the archive has no entries");

    // 3. The central directory.
    cursor cd(file_.subspan(static_cast<std::size_t>(cd_offset), static_cast<std::size_t>(cd_size)),
              {filename_, "central directory", cd_offset});
    entries_.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
        const auto at = cd.absolute();
        if (cd.u32("central directory entry") != central_sig)
            cd.fail_at(errc::bad_zip, at,
                       "central directory entry " + std::to_string(i) + " has a bad signature");
        entry e;
        (void)cd.u16("entry");  // made by
        (void)cd.u16("entry");  // needed
        e.flags = cd.u16("entry");
        e.method = cd.u16("entry");
        (void)cd.u32("entry");  // time, date
        e.crc32 = cd.u32("entry");
        e.compressed_size = cd.u32("entry");
        e.size = cd.u32("entry");
        const auto name_len = cd.u16("entry");
        const auto extra_len = cd.u16("entry");
        const auto comment_len = cd.u16("entry");
        (void)cd.u16("entry");  // disk start (multi-disk archives are refused above)
        (void)cd.u16("entry");  // internal attributes
        (void)cd.u32("entry");  // external attributes
        e.header_offset = cd.u32("entry");
        e.name = cd.take_text(name_len, "entry name");
        cursor extra(cd.take(extra_len, "entry extra field"), {filename_, e.name, cd.absolute() - extra_len});
        while (extra.remaining() >= 4) {
            const auto id = extra.u16("extra field");
            const auto len = extra.u16("extra field");
            cursor field(extra.take(len, "extra field"), {filename_, e.name, extra.absolute() - len});
            if (id != 0x0001) continue;
            if (e.size == u32_max) e.size = field.u64("zip64 extra: size");
            if (e.compressed_size == u32_max) e.compressed_size = field.u64("zip64 extra: compressed size");
            if (e.header_offset == u32_max) e.header_offset = field.u64("zip64 extra: header offset");
        }
        (void)cd.take(comment_len, "entry comment");
        entries_.push_back(std::move(e));
    }

    // The names, viewed in the mapping so far, move to one buffer the archive owns: nothing
    // may read the mapping unguarded after open (the file may shrink).
    std::size_t name_bytes = 0;
    for (const auto& e : entries_) name_bytes += e.name.size();
    names_ = std::make_unique_for_overwrite<char[]>(name_bytes);
    char* at = names_.get();
    for (auto& e : entries_) {
        std::memcpy(at, e.name.data(), e.name.size());
        e.name = std::string_view(at, e.name.size());
        at += e.name.size();
    }

    // 4. The prefix, from the first entry (torch's rule).
    const auto slash = entries_.front().name.find('/');
    if (slash == std::string::npos || slash == 0)
        throw error(errc::bad_zip, filename_, std::string(entries_.front().name), cd_offset,
                    "the first record is not inside a top folder: torch requires every record "
                    "under one prefix folder");
    prefix_ = entries_.front().name.substr(0, slash);

    // 5. Bounds and overlaps, on the layout the directory describes.
    page_array<std::size_t> order(entries_.size());  // a mapping of its own past 64 KiB: freed before open ends
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return entries_[a].header_offset < entries_[b].header_offset;
    });
    for (std::size_t k = 0; k < order.size(); ++k) {
        entry& e = entries_[order[k]];
        const std::uint64_t next =
            k + 1 < order.size() ? entries_[order[k + 1]].header_offset : cd_offset;
        std::uint64_t end = 0;
        const bool overflow = add_overflows(e.header_offset, local_size + e.name.size(), end) ||
                              add_overflows(end, e.compressed_size, end);
        if (overflow || e.header_offset >= cd_offset || end > cd_offset)
            throw error(errc::bad_zip, filename_, std::string(e.name), e.header_offset,
                        "the record (" + std::to_string(e.compressed_size) +
                            " bytes) does not fit between its local header offset and the "
                            "central directory at " + std::to_string(cd_offset));
        if (end > next)
            throw error(errc::bad_zip, filename_, std::string(e.name), e.header_offset,
                        "the record overlaps the next record, whose header is at offset " +
                            std::to_string(next));
        e.limit = next;
    }

    // Names must be unique. Records under the prefix are checked through the index; the
    // rare others (torch ≥ 2.1 refuses them anyway) by sorting.
    by_record_.reserve(entries_.size());
    std::vector<std::string_view> outside;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        const std::string_view rel = relative_name(entries_[i]);
        if (rel.size() == entries_[i].name.size()) {
            outside.push_back(rel);
        } else if (by_record_.insert(hash_text(rel), static_cast<std::uint32_t>(i),
                                     [&](std::uint32_t p) { return relative_name(entries_[p]) == rel; })) {
            throw error(errc::bad_zip, filename_, std::string(entries_[i].name), entries_[i].header_offset,
                        "the archive holds two records with this name");
        }
    }
    std::sort(outside.begin(), outside.end());
    if (auto d = std::adjacent_find(outside.begin(), outside.end()); d != outside.end())
        throw error(errc::bad_zip, filename_, std::string(*d), std::nullopt,
                    "the archive holds two records with this name");
}

const entry* archive::find(std::string_view record) const noexcept {
    if (const auto at = by_record_.find(hash_text(record),
                                        [&](std::uint32_t p) { return relative_name(entries_[p]) == record; }))
        return &entries_[*at];
    // Without the index (dropped after open, or nothing under the prefix) an exact match is
    // scanned for too; a match without regard to case counts only if there is none.
    const bool exact_too = by_record_.size() == 0;
    const entry* loose = nullptr;
    for (const auto& e : entries_) {
        const std::string_view rel = relative_name(e);
        if (rel.size() == e.name.size()) continue;
        if (exact_too && rel == record) return &e;
        if (!loose && iequals(rel, record)) loose = &e;
    }
    return loose;
}

std::string_view archive::relative_name(const entry& e) const noexcept {
    std::string_view n = e.name;
    if (n.size() > prefix_.size() && n.compare(0, prefix_.size(), prefix_) == 0 &&
        n[prefix_.size()] == '/')
        n.remove_prefix(prefix_.size() + 1);
    return n;
}

std::uint64_t archive::payload_offset(const entry& e) const {
    // The header is read long after open, when the file may have shrunk: its fixed fields and
    // the name it must repeat are copied out under a guard, then parsed from the copy.
    cursor whole(file_, {filename_, e.name, 0});
    whole.seek(static_cast<std::size_t>(e.header_offset), "local header");
    const auto header = whole.take(std::min<std::uint64_t>(whole.remaining(), local_size + e.name.size()),
                                   "local header");
    std::byte small[local_size + 64];  // most names fit: no allocation per record
    std::vector<std::byte> large(header.size() > sizeof small ? header.size() : 0);
    std::byte* copy = large.empty() ? small : large.data();
    guarded(header, e.name, [&]() noexcept { std::memcpy(copy, header.data(), header.size()); });
    try {
        return parse_local_header(e, {copy, header.size()});
    } catch (const error&) {
        // A file cut inside the header's page reads as zeros there, which no header parses
        // as; only then is the file's size worth a system call, to say it shrank.
        check_still_mapped(header, e.name);
        throw;
    }
}

std::uint64_t archive::parse_local_header(const entry& e, std::span<const std::byte> copy) const {
    cursor c(copy, {filename_, e.name, e.header_offset});
    if (c.u32("local header") != local_sig)
        c.fail_at(errc::bad_zip, e.header_offset, "no local file header signature where the "
                                                  "central directory says the record starts");
    c.seek(26, "local header");
    const std::uint64_t n = c.u16("local header");
    const std::uint64_t m = c.u16("local header");
    if (n != e.name.size() || c.take_text(n, "local header name") != e.name)
        c.fail_at(errc::bad_zip, e.header_offset,
                  "the local header names another record than the central directory does");
    const std::uint64_t start = e.header_offset + local_size + n + m;
    std::uint64_t end = 0;
    // The directory already showed the file holds the record; a payload that runs on is a
    // lying header, not a short file.
    if (add_overflows(start, e.compressed_size, end) || end > e.limit)
        c.fail_at(errc::bad_zip, start,
                  "the payload of " + std::to_string(e.compressed_size) +
                      " bytes runs past the next record or the directory at offset " +
                      std::to_string(e.limit));
    return start;
}

std::span<const std::byte> archive::stored(const entry& e) const {
    if (e.method != 0)
        throw error(errc::compression_error, filename_, std::string(e.name), e.header_offset,
                    "the record is compressed (method " + std::to_string(e.method) +
                        "), not stored");
    if (e.compressed_size != e.size)
        throw error(errc::bad_zip, filename_, std::string(e.name), e.header_offset,
                    "a stored record whose sizes differ (" + std::to_string(e.compressed_size) +
                        " vs " + std::to_string(e.size) + ")");
    const auto start = payload_offset(e);
    return file_.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(e.size));
}

namespace {
// zlib's state, ended however the read ends (a sink may throw).
struct inflater {
    z_stream zs{};
    bool started = false;
    ~inflater() {
        if (started) inflateEnd(&zs);
    }
};
}  // namespace

void archive::read_payload(const entry& e, std::uint64_t want, std::size_t piece,
                           const std::function<void(std::span<const std::byte>)>& sink) const {
    want = std::min(want, e.size);
    piece = std::max<std::size_t>(piece, 1);
    if (e.method == 0) {
        const auto bytes = stored(e).first(static_cast<std::size_t>(want));
        for (std::size_t at = 0; at < bytes.size(); at += piece)
            sink(bytes.subspan(at, std::min(piece, bytes.size() - at)));
        return;
    }
    check_inflatable(e);
    const auto start = payload_offset(e);
    if (e.size == 0) return;
    // One buffer of `piece` bytes, refilled: the record is never held whole, and a lying
    // entry costs what it really inflates to, not what it says.
    std::vector<std::byte> buf(static_cast<std::size_t>(std::min<std::uint64_t>(piece, e.size)));
    inflater z;
    if (inflateInit2(&z.zs, -MAX_WBITS) != Z_OK)
        throw error(errc::compression_error, filename_, std::string(e.name), start, "zlib failed to start");
    z.started = true;
    const auto* in = reinterpret_cast<const Bytef*>(file_.data() + start);
    std::uint64_t in_left = e.compressed_size;
    std::uint64_t out_done = 0;
    int rc = Z_OK;
    // A whole read goes on past the last byte, to see the stream's end.
    while (rc == Z_OK && (out_done < want || want == e.size)) {
        const auto in_chunk = static_cast<uInt>(std::min<std::uint64_t>(in_left, 1u << 30));
        z.zs.next_in = in;
        z.zs.avail_in = in_chunk;
        z.zs.next_out = reinterpret_cast<Bytef*>(buf.data());
        z.zs.avail_out = static_cast<uInt>(buf.size());
        guarded({reinterpret_cast<const std::byte*>(in), in_chunk}, e.name,
                [&]() noexcept { rc = inflate(&z.zs, Z_NO_FLUSH); });
        const auto used_in = in_chunk - z.zs.avail_in;
        const std::size_t made = buf.size() - z.zs.avail_out;
        in += used_in;
        in_left -= used_in;
        if (made > e.size - out_done) {
            rc = Z_DATA_ERROR;  // more than the directory claims
            out_done = e.size + 1;
            break;
        }
        if (rc == Z_OK && used_in == 0 && made == 0) rc = Z_BUF_ERROR;
        if (rc != Z_OK && rc != Z_STREAM_END) break;
        const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(made, want - out_done));
        out_done += made;
        if (wanted) sink({buf.data(), wanted});
    }
    // A cut inside a page reads as zeros, not a fault: the size tells, before any verdict.
    check_still_mapped(file_.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(e.compressed_size)), e.name);
    if (rc == Z_OK && want < e.size) return;  // the prefix asked for, whole
    if (rc != Z_STREAM_END || out_done != e.size)
        throw error(errc::compression_error, filename_, std::string(e.name), start,
                    std::string("the deflated payload is corrupt") +
                        (z.zs.msg ? std::string(" (zlib: ") + z.zs.msg + ")" : std::string()) +
                        (out_done > e.size ? ": it inflates to more than the " + std::to_string(e.size) +
                                                 " bytes the directory gives"
                                           : ": inflated " + std::to_string(out_done) + " of " +
                                                 std::to_string(e.size) + " bytes"));
}

std::vector<std::byte> archive::extract(const entry& e) const {
    if (e.method == 0) {  // copied under the guard: records are read long after open
        const auto s = stored(e);
        std::vector<std::byte> copy(s.size());
        guarded_copy(copy.data(), s, e.name);
        return copy;
    }
    std::vector<std::byte> out;
    // Grown as the bytes come, from a guess: a lying entry cannot make us allocate its claim.
    out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(
        e.size, std::max<std::uint64_t>(std::uint64_t{1} << 16, e.compressed_size * 4))));
    read_payload(e, e.size, std::size_t{1} << 20,
                 [&](std::span<const std::byte> bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); });
    return out;
}

void archive::check_inflatable(const entry& e) const {
    if (e.method != 8)
        throw error(errc::compression_error, filename_, std::string(e.name), e.header_offset,
                    "unsupported compression method " + std::to_string(e.method) +
                        " (only stored and deflate)");
    std::uint64_t cap = 0;
    if (mul_overflows(e.compressed_size, max_inflate_ratio, cap) || e.size > cap + 1024)
        throw error(errc::compression_error, filename_, std::string(e.name), e.header_offset,
                    "claims " + std::to_string(e.size) + " bytes from " +
                        std::to_string(e.compressed_size) + " deflated bytes, more than deflate can");
}

void archive::check_crc(const entry& e, std::span<const std::byte> payload) const {
    if (e.crc32 == 0) return;  // torch writes 0 when CRCs are off
    std::uint32_t got = 0;
    guarded(payload, e.name, [&]() noexcept { got = crc32(payload); });
    check_still_mapped(payload, e.name);
    compare_crc(e, got);
}

void archive::check_crc(const entry& e) const {
    if (e.crc32 == 0) return;
    if (e.method == 0) return check_crc(e, stored(e));  // in place, under the guard
    std::uint32_t crc = 0;
    read_payload(e, e.size, crc_piece,
                 [&](std::span<const std::byte> bytes) { crc = crc32_update(crc, bytes); });
    compare_crc(e, crc);
}

void archive::compare_crc(const entry& e, std::uint32_t got) const {
    if (e.crc32 == 0 || got == e.crc32) return;  // torch writes 0 when CRCs are off
    char buf[64];
    std::snprintf(buf, sizeof buf, "CRC-32 is %08x but the directory says %08x", got, e.crc32);
    throw error(errc::crc_mismatch, filename_, std::string(e.name), e.header_offset, buf);
}

}  // namespace ptio::detail::zip
