// The magic-number format (torch 0.1.10 to 1.5): five pickles — the magic number, the
// protocol version, sys_info, the object, the storage keys — then one blob per key.
#include "torch/legacy.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "torch/part.hpp"
#include "torch/storage.hpp"

namespace ptio::detail::torch {
namespace {

// 0x1950A86A20F9469CFC6C, the legacy format's first pickle.
constexpr std::string_view magic_decimal = "119547037146038801333356";
constexpr unsigned char magic_le[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr std::int64_t legacy_protocol = 1001;

// A storage blob: a u64 element count, then count × element size bytes. Open must not touch
// a storage's pages (a 4 GB file would fault one page per storage), so the count is not read
// here: it is checked on first access.
void locate_blob(cursor& c, storage& s) {
    const auto count = c.take(8, "a storage's element count");
    s.check_count_on_access(count.data(), s.nbytes() / element_size(s.type()));
    const std::uint64_t offset = c.absolute();
    s.locate(c.take(s.nbytes(), "a storage's bytes"), offset);
}

}  // namespace

bool looks_like_legacy(std::span<const std::byte> b) noexcept {
    const auto* raw = reinterpret_cast<const unsigned char*>(b.data());
    const std::size_t scan = std::min<std::size_t>(b.size(), 64);  // PROTO, FRAME, LONG1
    for (std::size_t i = 0; i + sizeof magic_le <= scan; ++i)
        if (std::memcmp(raw + i, magic_le, sizeof magic_le) == 0) return true;
    // Protocols 0 and 1 write the number as text: L119547037146038801333356L
    return b.size() > magic_decimal.size() && raw[0] == 'L' &&
           std::memcmp(raw + 1, magic_decimal.data(), magic_decimal.size()) == 0;
}

value read_legacy(std::span<const std::byte> bytes, rebuilder& rb, arena& nodes, const limits& caps) {
    const auto& where = rb.context().where;
    part p(bytes, where.file, "", 0, rb, nodes, caps);
    const value magic = p.next();
    if (!(magic.is(kind::integer) || magic.is(kind::big_integer)) || magic.int_text() != magic_decimal)
        p.fail(errc::not_a_checkpoint, 0, "the first pickle is not torch's legacy magic number");
    std::uint64_t at = p.bytes().absolute();
    const value protocol = p.next();
    if (!protocol.is(kind::integer) || protocol.as_int() != legacy_protocol)
        p.fail(errc::unsupported_format, at,
               "legacy protocol version " + (protocol.is(kind::integer) ? std::to_string(protocol.as_int()) : "?") +
                   ", not 1001");
    (void)p.next();  // sys_info: torch ignores it; blobs are little-endian whatever the writer

    const value root = p.next();
    at = p.bytes().absolute();
    const value keys = p.next();
    if (!keys.is(kind::list) && !keys.is(kind::tuple))
        p.fail(errc::bad_pickle, at, "the storage key list is a " + std::string(to_string(keys.type())));

    // The blobs follow in key-list order; each must belong to a storage the object uses.
    const auto& refs = rb.legacy_storages();
    std::size_t located = 0;
    for (const auto& k : keys.items()) {
        const auto name = key_string(k);
        if (!name) p.fail(errc::bad_storage, at, "a storage key that is neither text nor an integer");
        const auto it = refs.find(*name);
        if (it == refs.end())
            p.fail(errc::bad_storage, p.bytes().absolute(),
                   "the key list names storage '" + *name + "', which the object never references");
        storage& s = rb.storage_of_ref(it->second);
        if (s.located())
            p.fail(errc::bad_storage, p.bytes().absolute(), "storage '" + *name + "' appears twice in the key list");
        locate_blob(p.bytes(), s);
        ++located;
    }
    if (located != refs.size())
        for (const auto& [name, ref] : refs)
            if (!rb.storage_of_ref(ref).located())
                p.fail(errc::bad_storage, at, "storage '" + name + "' is referenced but the key list has no bytes for it");
    return root;
}

}  // namespace ptio::detail::torch
