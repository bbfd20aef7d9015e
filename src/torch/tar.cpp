// The tar format (torch ≤ 0.1.9): a POSIX tar whose members are sys_info, pickle (the
// object), tensors (each tensor's geometry) and storages (each storage's blob, then the
// views of storages). Persistent ids in the pickle are keys into the other two members.
#include "torch/legacy.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/checked.hpp"
#include "torch/part.hpp"
#include "torch/storage.hpp"

namespace ptio::detail::torch {

bool looks_like_tar(std::span<const std::byte> b) noexcept {
    return b.size() >= 512 && std::memcmp(b.data() + 257, "ustar", 5) == 0;
}

namespace {

struct tar_member {
    std::string name;
    std::uint64_t offset = 0;  // of the data
    std::uint64_t size = 0;
};

// A numeric header field: octal text, or base-256 when its first byte has the high bit.
std::optional<std::uint64_t> tar_number(std::span<const std::byte> field) {
    const auto* f = reinterpret_cast<const unsigned char*>(field.data());
    if (f[0] & 0x80) {
        std::uint64_t v = f[0] & 0x7f;
        for (std::size_t i = 1; i < field.size(); ++i) {
            if (v >> 56) return std::nullopt;
            v = (v << 8) | f[i];
        }
        return v;
    }
    std::uint64_t v = 0;
    std::size_t i = 0;
    while (i < field.size() && (f[i] == ' ' || f[i] == 0)) ++i;
    bool any = false;
    for (; i < field.size() && f[i] >= '0' && f[i] <= '7'; ++i) {
        if (v >> 60) return std::nullopt;
        v = v * 8 + (f[i] - '0');
        any = true;
    }
    for (; i < field.size(); ++i)
        if (f[i] != ' ' && f[i] != 0) return std::nullopt;
    return any ? std::optional(v) : std::optional<std::uint64_t>(0);
}

std::string tar_text(std::span<const std::byte> field) {
    const auto* f = reinterpret_cast<const char*>(field.data());
    return std::string(f, strnlen(f, field.size()));
}

[[noreturn]] void tar_fail(errc code, const std::string& file, std::uint64_t pos, const std::string& what) {
    throw error(code, file, {}, pos, what);
}

// The members of a POSIX/PAX/GNU tar, each checked to lie inside the file.
std::vector<tar_member> tar_members(std::span<const std::byte> bytes, const std::string& file,
                                    std::size_t max_members) {
    std::vector<tar_member> out;
    std::string next_name;
    std::uint64_t next_size = 0;  // from a PAX header, when has_next_size
    bool has_next_size = false;
    std::uint64_t pos = 0;
    auto fail = [&](errc code, const std::string& what) { tar_fail(code, file, pos, what); };
    while (pos + 512 <= bytes.size()) {
        const auto h = bytes.subspan(static_cast<std::size_t>(pos), 512);
        if (std::all_of(h.begin(), h.end(), [](std::byte b) { return b == std::byte{0}; })) break;
        // The checksum: the header's bytes summed with the checksum field read as spaces.
        const auto stored = tar_number(h.subspan(148, 8));
        unsigned long sum = 0;
        for (std::size_t i = 0; i < 512; ++i)
            sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
        if (!stored || *stored != sum) fail(errc::bad_zip, "a tar header whose checksum does not match");
        const auto size = tar_number(h.subspan(124, 12));
        if (!size) tar_fail(errc::bad_zip, file, pos, "a tar header with an unreadable size");
        const char type = static_cast<char>(h[156]);
        const std::uint64_t data = pos + 512;
        const std::uint64_t len = (type == 'x' || type == 'g' || type == 'L') ? *size : (has_next_size ? next_size : *size);
        std::uint64_t end = 0;
        if (add_overflows(data, len, end) || end > bytes.size())
            fail(errc::truncated, "a tar member of " + std::to_string(len) + " bytes runs past the end of the file");
        const auto body = bytes.subspan(static_cast<std::size_t>(data), static_cast<std::size_t>(len));
        if (type == 'x') {  // PAX extended header: "<len> key=value\n" records for the next member
            std::string_view rest(reinterpret_cast<const char*>(body.data()), body.size());
            while (!rest.empty()) {
                std::size_t n = 0;
                const auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
                if (ec != std::errc{} || n == 0 || n > rest.size()) fail(errc::bad_zip, "a malformed PAX record");
                std::string_view rec = rest.substr(static_cast<std::size_t>(p - rest.data()), n - static_cast<std::size_t>(p - rest.data()));
                rest.remove_prefix(n);
                if (!rec.empty() && rec.front() == ' ') rec.remove_prefix(1);
                if (!rec.empty() && rec.back() == '\n') rec.remove_suffix(1);
                const auto eq = rec.find('=');
                if (eq == std::string_view::npos) continue;
                const auto k = rec.substr(0, eq), v = rec.substr(eq + 1);
                if (k == "path") next_name = std::string(v);
                if (k == "size") {
                    std::uint64_t s = 0;
                    const auto [q, e2] = std::from_chars(v.data(), v.data() + v.size(), s);
                    if (e2 != std::errc{} || q != v.data() + v.size()) fail(errc::bad_zip, "a PAX size that is not a number");
                    next_size = s;
                    has_next_size = true;
                }
            }
        } else if (type == 'L') {  // GNU long name
            next_name = tar_text(body);
        } else if (type != 'g') {
            tar_member m;
            if (!next_name.empty()) {
                m.name = next_name;
            } else {
                m.name = tar_text(h.subspan(0, 100));
                const std::string prefix = tar_text(h.subspan(345, 155));
                if (!prefix.empty()) m.name = prefix + "/" + m.name;
            }
            m.offset = data;
            m.size = len;
            if (type == '0' || type == '\0') out.push_back(std::move(m));
            next_name.clear();
            has_next_size = false;
            if (out.size() > max_members) fail(errc::limit_exceeded, "more tar members than the cap allows");
        }
        pos = data + (len + 511) / 512 * 512;
    }
    return out;
}

// A count at the start of a member, capped like the records of a zip.
std::int64_t count_of(const part& p, const value& v, std::uint64_t at, const char* what) {
    if (!v.is(kind::integer) || v.as_int() < 0) p.fail(errc::bad_pickle, at, std::string(what) + " is not a count");
    if (static_cast<std::uint64_t>(v.as_int()) > p.caps().max_records)
        p.fail(errc::limit_exceeded, at, std::string(what) + " of " + std::to_string(v.as_int()) +
                                             " passes the cap of " + std::to_string(p.caps().max_records));
    return v.as_int();
}
// A key of the tar tables: an int, or its decimal text.
std::int64_t key_of(const part& p, const value& v, std::uint64_t at, const char* what) {
    if (v.is(kind::integer)) return v.as_int();
    if (v.is(kind::string) || v.is(kind::bytes)) {
        const auto s = bytes_text(v);
        std::int64_t k = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), k);
        if (ec == std::errc{} && end == s.data() + s.size()) return k;
    }
    p.fail(errc::bad_storage, at, std::string(what) + " that is not an integer key");
}

// The three members torch reads, in its order: storages, tensors, pickle.
class tar_reader {
public:
    tar_reader(std::span<const std::byte> bytes, rebuilder& rb, arena& nodes, const limits& caps)
        : bytes_(bytes), file_(rb.context().where.file), members_(tar_members(bytes, file_, caps.max_records)),
          rb_(rb), nodes_(nodes), caps_(caps) {}

    // storages: N, then N × (pickle (key, location, class), blob), then the views.
    void storages() {
        part p = open("storages");
        each_record(p, "the storage count", [&](std::span<const value> f, std::uint64_t at) {
            const auto type = f.size() == 3 ? storage_class_type(f[2]) : std::nullopt;
            if (!type || !f[1].is(kind::string))
                p.fail(errc::bad_storage, at, "a storage header that is not (key, location, storage class)");
            const std::int64_t key = key_of(p, f[0], at, "a storage key");
            // The blob: its element count sizes the storage (no reference gives one here),
            // then the bytes.
            auto& c = p.bytes();
            const std::uint64_t count_at = c.absolute();
            const std::uint64_t count = c.u64("a storage's element count");
            const value ref = rb_.span_storage(std::to_string(key), std::string(f[1].as_string()), *type, count, count_at);
            storage& s = rb_.storage_of_ref(ref);
            const std::uint64_t offset = c.absolute();
            s.locate(c.take(s.nbytes(), "a storage's bytes"), offset);
            rb_.add_tar_object(key, ref);
        });
        const std::uint64_t at = p.bytes().absolute();
        if (p.bytes().at_end())
            p.fail(errc::truncated, at, "the storages member ends before its list of storage views");
        const value views = p.next();
        if (!views.is(kind::list) && !views.is(kind::tuple))
            p.fail(errc::bad_storage, at, "the storage views are not a list");
        for (const auto& v : views.items()) {
            const auto f = v.is(kind::tuple) ? v.items() : std::span<const value>();
            if (f.size() != 4 || !f[2].is(kind::integer) || !f[3].is(kind::integer) ||
                f[2].as_int() < 0 || f[3].as_int() < 0)
                p.fail(errc::bad_storage, at, "a storage view that is not (key, root key, offset, numel)");
            const value* root = rb_.tar_object(key_of(p, f[1], at, "a view's root key"));
            if (!root || !rebuilder::is_storage_ref(*root))
                p.fail(errc::bad_storage, at, "a storage view whose root is not a storage of the file");
            const std::int64_t key = key_of(p, f[0], at, "a view key");
            rb_.add_tar_object(key, rb_.storage_view(*root, std::to_string(key), static_cast<std::uint64_t>(f[2].as_int()),
                                                     static_cast<std::uint64_t>(f[3].as_int()), at));
        }
    }

    // tensors: M, then M × (pickle (key, storage key, class), ndim, sizes, strides, offset).
    void tensors() {
        part p = open("tensors");
        each_record(p, "the tensor count", [&](std::span<const value> f, std::uint64_t at) {
            if (f.size() != 3)
                p.fail(errc::bad_tensor, at, "a tensor header that is not (key, storage key, class)");
            const std::int64_t key = key_of(p, f[0], at, "a tensor key");
            const value* st = f[1].is_none() ? nullptr : rb_.tar_object(key_of(p, f[1], at, "a storage key"));
            if (!st || !rebuilder::is_storage_ref(*st))
                p.fail(errc::bad_tensor, at, "tensor " + std::to_string(key) + " names no storage of the file");
            auto& c = p.bytes();
            at = c.absolute();
            const auto ndim = static_cast<std::int32_t>(c.u32("a tensor's rank"));
            (void)c.u32("a tensor's rank");  // written as 8 bytes; torch reads the low 4
            if (ndim < 0 || static_cast<std::size_t>(ndim) > caps_.max_dims)
                p.fail(errc::bad_tensor, at, "a tensor rank of " + std::to_string(ndim));
            std::vector<std::int64_t> shape(static_cast<std::size_t>(ndim)), strides(shape.size());
            for (auto& d : shape) d = static_cast<std::int64_t>(c.u64("a tensor size"));
            for (auto& d : strides) d = static_cast<std::int64_t>(c.u64("a tensor stride"));
            const auto offset = static_cast<std::int64_t>(c.u64("a tensor offset"));
            rb_.add_tar_object(key, rb_.tensor_over(*st, offset, shape, strides, at));
        });
    }

    value object() { return open("pickle").next(); }

private:
    // The member's bytes, named in rebuild errors too (the offsets lie in it).
    part open(std::string_view name) {
        for (const auto& m : members_) {
            if (m.name != name) continue;
            rb_.set_record(name);
            return {bytes_.subspan(static_cast<std::size_t>(m.offset), static_cast<std::size_t>(m.size)), file_,
                    name, m.offset, rb_, nodes_, caps_};
        }
        throw error(errc::missing_record, file_, std::string(name), std::nullopt,
                    "the tar has no '" + std::string(name) +
                        "' member, so it is not a torch.save tar (torch ≤ 0.1.9 writes sys_info, pickle, "
                        "tensors and storages)");
    }
    // A count, then that many records, each a pickled header tuple and what follows it.
    template <class F>
    static void each_record(part& p, const char* count_what, F&& record) {
        const std::uint64_t count_at = p.bytes().absolute();
        const auto n = count_of(p, p.next(), count_at, count_what);
        for (std::int64_t i = 0; i < n; ++i) {
            const std::uint64_t at = p.bytes().absolute();
            const value head = p.next();
            record(head.is(kind::tuple) ? head.items() : std::span<const value>(), at);
        }
    }

    std::span<const std::byte> bytes_;
    std::string file_;
    std::vector<tar_member> members_;
    rebuilder& rb_;
    arena& nodes_;
    const limits& caps_;
};

}  // namespace

value read_tar(std::span<const std::byte> bytes, rebuilder& rb, arena& nodes, const limits& caps) {
    tar_reader r(bytes, rb, nodes, caps);
    r.storages();
    r.tensors();
    return r.object();
}

}  // namespace ptio::detail::torch

namespace ptio::detail::torch {

std::vector<tar_pickle> tar_pickles(std::span<const std::byte> bytes, const std::string& file,
                                    const limits& caps) {
    std::vector<tar_pickle> out;
    for (const auto& m : tar_members(bytes, file, caps.max_records))
        if (m.name == "sys_info" || m.name == "pickle")
            out.push_back({m.name, m.offset, bytes.subspan(m.offset, m.size)});
    return out;
}

}  // namespace ptio::detail::torch
