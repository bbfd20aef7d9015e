// Persistent ids: how a pickle names the storages its tensors view. Each scheme becomes the
// same thing, a storage_ref object over one storage of the checkpoint; the first reference to
// a storage decides its element type and later ones share it, as torch's loaders do.
#include "torch/rebuild.hpp"

#include <charconv>

#include "core/checked.hpp"

namespace ptio::detail::torch {

std::optional<std::string> key_string(const value& v) {
    if (v.is(kind::string) || v.is(kind::bytes)) return std::string(bytes_text(v));
    if (v.is(kind::integer)) return std::to_string(v.as_int());
    return std::nullopt;
}

value rebuilder::persistent(const value& pid, std::uint64_t at) {
    switch (ctx_.ids) {
        case id_style::legacy: return legacy_persistent(pid, at);
        case id_style::tar: return tar_persistent(pid, at);
        case id_style::zip: break;
    }
    return zip_persistent(pid, at);
}

// A storage_ref keeps its storage's place in the checkpoint's store, not a pointer: the
// rebuilder, which holds that store, is then the one that can change the storage.
value rebuilder::ref_to_newest(value pid) {
    node& n = nodes_.make(kind::object);  // one a storage: its texts are literals, not copies
    n.text = "torch.storage";
    n.name = "storage";
    n.origin = value::origin::call;
    n.args = pid;
    n.depth = depth_through(pid);
    n.tag = known::storage_ref;
    // 2^32 storages would take terabytes of memory before this could wrap.
    n.storage_index = static_cast<std::uint32_t>(storages_.size() - 1);
    return value_access::make_node(kind::object, &n);
}

const storage& rebuilder::storage_of_ref(const value& ref) const { return storages_[node_of(ref)->storage_index]; }
storage& rebuilder::storage_of_ref(const value& ref) { return storages_[node_of(ref)->storage_index]; }

const std::string& rebuilder::location_text(std::string_view location) {
    if (const auto it = text_index_.find(location); it != text_index_.end()) return *it->second;
    const std::string& kept = texts_.emplace_back(location);
    text_index_.emplace(kept, &kept);  // keyed on the kept copy, which outlives the index
    return kept;
}

value rebuilder::span_storage(std::string key, std::string_view location, dtype type,
                              std::uint64_t numel, std::uint64_t at) {
    std::uint64_t nbytes = 0;
    if (mul_overflows(numel, element_size(type), nbytes) || nbytes > (std::uint64_t{1} << 62))
        fail(errc::bad_storage, at, "storage '" + key + "' claims " + std::to_string(numel) +
                                        " elements, more than any file holds");
    storages_.emplace_back(std::string(ctx_.where.file), "storage " + key, key, location_text(location), type, nbytes,
                           storage::options{ctx_.swap_bytes, ctx_.options.verify_crc, ctx_.file});
    return ref_to_newest();
}

value rebuilder::storage_view(const value& root, std::string key, std::uint64_t offset,
                              std::uint64_t numel, std::uint64_t at) {
    const storage& s = storage_of_ref(root);
    const std::uint64_t esize = element_size(s.type());
    const std::uint64_t count = s.nbytes() / esize;
    std::uint64_t end = 0;
    if (add_overflows(offset, numel, end) || end > count)
        fail(errc::bad_storage, at, "storage '" + key + "' views elements " + std::to_string(offset) +
                                        "…" + std::to_string(offset + numel) + " of storage '" + std::string(s.key()) +
                                        "', which has " + std::to_string(count));
    // torch gives the view a storage of its own over the root's bytes; so does ptio. A view
    // of a view (the tar's views may name one) points at the first root, so no chain of
    // views is followed on access.
    value ref = span_storage(std::move(key), s.location(), s.type(), numel, at);
    const storage* root_storage = s.view_root() ? s.view_root() : &s;
    storage_of_ref(ref).view_of(*root_storage, s.view_offset() + offset * esize);
    return ref;
}

value rebuilder::legacy_persistent(const value& pid, std::uint64_t at) {
    if (!pid.is(kind::tuple) || pid.size() < 1)
        fail(errc::bad_storage, at, "a persistent id that is not a tuple");
    const auto f = pid.items();
    const auto tag = key_string(f[0]);
    if (!tag) fail(errc::bad_storage, at, "a persistent id without a type name");
    if (*tag == "module") {  // (module, class, source file, source): the class itself
        if (f.size() < 2) fail(errc::bad_storage, at, "a module persistent id without its class");
        return f[1];
    }
    if (*tag != "storage" || f.size() < 6)
        fail(errc::bad_storage, at, "a persistent id that is not a ('storage', class, key, location, "
                                    "numel, view) tuple");
    const auto type = storage_class_type(f[1]);
    if (!type) fail(errc::bad_storage, at, "a persistent id whose storage class is not a torch storage class");
    const auto key = key_string(f[2]);
    if (!key) fail(errc::bad_storage, at, "a storage key that is neither text nor an integer");
    const auto location = key_string(f[3]);
    if (!location) fail(errc::bad_storage, at, "a storage location that is not text");
    if (!f[4].is(kind::integer) || f[4].as_int() < 0)
        fail(errc::bad_storage, at, "a storage size that is not a non-negative integer");
    // The first reference to a root key decides its element type.
    auto [it, fresh] = by_key_.try_emplace(*key);
    if (fresh) it->second = span_storage(*key, *location, *type, static_cast<std::uint64_t>(f[4].as_int()), at);
    const value& root = it->second;
    if (f[5].is_none()) return root;
    if (!f[5].is(kind::tuple)) fail(errc::bad_storage, at, "storage view metadata that is not (key, offset, size)");
    const auto v = f[5].items();
    std::optional<std::string> view_key;
    if (v.size() != 3 || !(view_key = key_string(v[0])) || !v[1].is(kind::integer) ||
        !v[2].is(kind::integer) || v[1].as_int() < 0 || v[2].as_int() < 0)
        fail(errc::bad_storage, at, "storage view metadata that is not (key, offset, size)");
    // torch caches a view by its key: every reference to it shares one storage.
    auto [view, first] = view_by_key_.try_emplace(*view_key);
    if (first)
        view->second = storage_view(root, *view_key, static_cast<std::uint64_t>(v[1].as_int()),
                                    static_cast<std::uint64_t>(v[2].as_int()), at);
    return view->second;
}

value rebuilder::tar_persistent(const value& pid, std::uint64_t at) {
    if (pid.is(kind::tuple)) {  // (class, source file, source) of a module class
        if (pid.size() < 1) fail(errc::bad_storage, at, "an empty persistent id");
        return pid.items()[0];
    }
    const auto text = key_string(pid);
    if (!text) fail(errc::bad_storage, at, "a persistent id that is neither a key nor a tuple");
    std::int64_t key = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), key);
    if (ec != std::errc{} || end != text->data() + text->size())
        fail(errc::bad_storage, at, "a persistent id '" + *text + "' that is not a decimal key");
    if (const value* v = tar_object(key)) return *v;
    fail(errc::missing_record, at, "persistent id " + *text +
                                       " names no storage or tensor of the tar's storages and "
                                       "tensors members");
}

namespace {
// The number a key of decimal digits spells without leading zeros (as torch writes them),
// if it is below `bound`.
std::optional<std::size_t> decimal_key(std::string_view key, std::size_t bound) {
    if (key.empty() || key.size() > 9 || (key.size() > 1 && key[0] == '0')) return std::nullopt;
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), n);
    if (ec != std::errc() || end != key.data() + key.size() || n >= bound) return std::nullopt;
    return n;
}
}  // namespace

const zip::entry* rebuilder::numbered_entry(std::string_view key) {
    const auto& entries = ctx_.archive->entries();
    if (!numbered_built_) {
        numbered_built_ = true;
        numbered_.assign(entries.size(), UINT32_MAX);
        for (std::size_t i = 0; i < entries.size(); ++i) {
            std::string_view rel = ctx_.archive->relative_name(entries[i]);
            if (rel.size() == entries[i].name.size() || !rel.starts_with(ctx_.record_dir)) continue;
            rel.remove_prefix(ctx_.record_dir.size());
            if (const auto n = decimal_key(rel, entries.size()); n && numbered_[*n] == UINT32_MAX)
                numbered_[*n] = static_cast<std::uint32_t>(i);
        }
    }
    const auto n = decimal_key(key, numbered_.size());
    if (!n || numbered_[*n] == UINT32_MAX) return nullptr;
    return &entries[numbered_[*n]];
}

value rebuilder::zip_persistent(const value& pid, std::uint64_t at) {
    if (!pid.is(kind::tuple))
        fail(errc::bad_storage, at,
             "a persistent id that is a " + std::string(to_string(pid.type())) +
                 ", not a ('storage', class, key, location, numel) tuple" +
                 (pid.is(kind::string) ? " (protocol 0 text ids, which torch.load refuses too)" : ""));
    const auto f = pid.items();
    if (f.size() < 5 || !f[0].is(kind::string) || f[0].as_string() != "storage")
        fail(errc::bad_storage, at, "a persistent id that is not a ('storage', class, key, location, numel) tuple");
    const value& cls = f[1];
    if (tag_of(cls) != known::storage_class)
        fail(errc::bad_storage, at, "a persistent id whose storage class is not a torch storage class");
    const auto type = storage_class_type(cls);
    if (!type) fail(errc::bad_storage, at, "unknown storage class " + std::string(cls.class_name()));

    std::string int_key;
    std::string_view key;
    if (f[2].is(kind::string)) key = f[2].as_string();
    else if (f[2].is(kind::integer)) key = int_key = std::to_string(f[2].as_int());
    else fail(errc::bad_storage, at, "a storage key that is neither text nor an integer");
    if (!f[3].is(kind::string)) fail(errc::bad_storage, at, "a storage location that is not text");
    if (!f[4].is(kind::integer) || f[4].as_int() < 0)
        fail(errc::bad_storage, at, "a storage size that is not a non-negative integer");

    const std::string record = ctx_.record_dir + std::string(key);
    const zip::entry* e = numbered_entry(key);
    if (!e) e = ctx_.archive->find(record);
    if (!e)
        fail(errc::missing_record, at,
             "storage '" + std::string(key) + "' refers to record " + record + ", which the archive lacks");
    // A storage is keyed by its record: the first reference decides its dtype, later ones
    // share it.
    value& slot = by_entry_[static_cast<std::size_t>(e - ctx_.archive->entries().data())];
    if (!slot.is_none()) return slot;
    // torch.jit.save of a module on the meta device writes empty records tagged "meta":
    // its tensors are meta tensors, whatever the record holds.
    const bool meta = f[3].as_string() == "meta";
    std::uint64_t nbytes = 0;
    if (mul_overflows(static_cast<std::uint64_t>(f[4].as_int()), element_size(*type), nbytes) ||
        (nbytes > e->size && !meta))
        throw error(errc::bad_storage, std::string(ctx_.where.file), std::string(e->name), e->header_offset,
                    "the storage needs " + std::to_string(f[4].as_int()) + " × " +
                        std::to_string(element_size(*type)) + " bytes but its record holds " +
                        std::to_string(e->size));
    // Keys restart in each tensor folder (TorchScript's constants/): outside data/ the key
    // names its folder too, so "0" and "constants/0" stay two storages to the caller.
    // The storage's key is its record name's tail (for a record matched without regard to
    // case, as the archive spells it).
    const std::size_t key_size = ctx_.record_dir == "data/" ? key.size() : record.size();
    storages_.emplace_back(*ctx_.archive, *e, key_size, location_text(f[3].as_string()), *type, nbytes,
                           storage::options{ctx_.swap_bytes, ctx_.options.verify_crc, ctx_.file});
    slot = ref_to_newest(pid);
    return slot;
}

}  // namespace ptio::detail::torch
