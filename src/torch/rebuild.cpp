#include "torch/rebuild.hpp"

#include "core/geometry.hpp"
#include "core/text.hpp"

#include "io/mapped_file.hpp"
#include "torch/globals.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdint>

namespace ptio::detail::torch {
namespace {

bool is_tag(const value& v, known k) {
    return v.is(kind::object) && v.node_ptr()->tag == k;
}
known tag_of(const value& v) { return v.is(kind::object) ? v.node_ptr()->tag : known::none; }

}  // namespace

void rebuilder::fail(errc code, std::uint64_t at, const std::string& what) const {
    throw error(code, std::string(ctx_.where.file), std::string(ctx_.where.record), at, what);
}

value rebuilder::global(std::string_view module, std::string_view name, std::uint64_t at) {
    std::string key;
    key.reserve(module.size() + name.size() + 1);
    key.append(module).append("\n").append(name);
    if (auto it = globals_.find(key); it != globals_.end()) return it->second;

    const global_info g = classify(module, name);
    if (g.unsafe)
        fail(errc::unsafe_global, at,
             "the pickle names " + g.module + "." + g.name +
                 ", a callable that runs code or touches the system; ptio never calls globals, "
                 "and refuses files that name these");
    if (ctx_.options.weights_only && !g.weights_only_ok)
        fail(errc::forbidden_global, at,
             "weights_only: " + g.module + "." + g.name +
                 " is not in torch's weights_only allowlist");
    value v = pickle::make_object(nodes_, g.module, g.name, value::origin::global);
    auto& n = arena::mut(v);
    n.tag = g.tag;
    n.aux = g.aux;
    globals_.emplace(std::move(key), v);
    return v;
}

value rebuilder::persistent(const value& pid, std::uint64_t at) {
    switch (ctx_.ids) {
        case id_style::legacy: return legacy_persistent(pid, at);
        case id_style::tar: return tar_persistent(pid, at);
        case id_style::zip: break;
    }
    return zip_persistent(pid, at);
}

namespace {
// A storage key as text: str, bytes (Python 2 pickles) or int.
bool key_text(const value& v, std::string& out) {
    if (v.is(kind::string) || v.is(kind::bytes)) out = std::string(bytes_text(v));
    else if (v.is(kind::integer)) out = std::to_string(v.as_int());
    else return false;
    return true;
}
}  // namespace

value rebuilder::span_storage(std::string key, std::string location, dtype type,
                              std::uint64_t numel, std::uint64_t at) {
    std::uint64_t nbytes = 0;
    if (mul_overflows(numel, element_size(type), nbytes) || nbytes > (std::uint64_t{1} << 62))
        fail(errc::bad_storage, at, "storage '" + key + "' claims " + std::to_string(numel) +
                                        " elements, more than any file holds");
    auto& s = storages_.emplace_back(std::string(ctx_.where.file), "storage " + key, key,
                                     std::move(location), type, nbytes,
                                     storage::options{ctx_.swap_bytes, ctx_.options.verify_crc, ctx_.file});
    return ref_to(s);
}

value rebuilder::ref_to(const storage& s, value pid) {
    value ref = pickle::make_object(nodes_, "torch", "storage", value::origin::call, std::move(pid));
    auto& n = arena::mut(ref);
    n.tag = known::storage_ref;
    n.storage_ptr = &s;
    return ref;
}

value rebuilder::storage_view(const value& root, std::string key, std::uint64_t offset,
                              std::uint64_t numel, std::uint64_t at) {
    const storage& s = *root.node_ptr()->storage_ptr;
    const std::uint64_t esize = element_size(s.type());
    const std::uint64_t count = s.nbytes() / esize;
    std::uint64_t end = 0;
    if (add_overflows(offset, numel, end) || end > count)
        fail(errc::bad_storage, at, "storage '" + key + "' views elements " + std::to_string(offset) +
                                        "…" + std::to_string(offset + numel) + " of storage '" + s.key() +
                                        "', which has " + std::to_string(count));
    // torch gives the view a storage of its own over the root's bytes; so does ptio. A view
    // of a view (the tar's views may name one) points at the first root, so no chain of
    // views is followed on access.
    value ref = span_storage(std::move(key), s.location(), s.type(), numel, at);
    const storage* root_storage = s.view_root() ? s.view_root() : &s;
    const_cast<storage&>(*ref.node_ptr()->storage_ptr).view_of(*root_storage, s.view_offset() + offset * esize);
    return ref;
}

value rebuilder::legacy_persistent(const value& pid, std::uint64_t at) {
    if (!pid.is(kind::tuple) || pid.size() < 1)
        fail(errc::bad_storage, at, "a persistent id that is not a tuple");
    const auto f = pid.items();
    std::string tag;
    if (!key_text(f[0], tag)) fail(errc::bad_storage, at, "a persistent id without a type name");
    if (tag == "module") {  // (module, class, source file, source): the class itself
        if (f.size() < 2) fail(errc::bad_storage, at, "a module persistent id without its class");
        return f[1];
    }
    if (tag != "storage" || f.size() < 6)
        fail(errc::bad_storage, at, "a persistent id that is not a ('storage', class, key, location, "
                                    "numel, view) tuple");
    const value& cls = f[1];
    if (!is_tag(cls, known::storage_class) || cls.node_ptr()->aux == 0xFFFF)
        fail(errc::bad_storage, at, "a persistent id whose storage class is not a torch storage class");
    const auto type = static_cast<dtype>(cls.node_ptr()->aux);
    std::string key, location;
    if (!key_text(f[2], key)) fail(errc::bad_storage, at, "a storage key that is neither text nor an integer");
    if (!key_text(f[3], location)) fail(errc::bad_storage, at, "a storage location that is not text");
    if (!f[4].is(kind::integer) || f[4].as_int() < 0)
        fail(errc::bad_storage, at, "a storage size that is not a non-negative integer");
    // The first reference to a root key decides its element type.
    auto [it, fresh] = by_key_.try_emplace(key);
    if (fresh) it->second = span_storage(key, location, type, static_cast<std::uint64_t>(f[4].as_int()), at);
    const value& root = it->second;
    if (f[5].is_none()) return root;
    if (!f[5].is(kind::tuple)) fail(errc::bad_storage, at, "storage view metadata that is not (key, offset, size)");
    const auto v = f[5].items();
    std::string view_key;
    if (v.size() != 3 || !key_text(v[0], view_key) || !v[1].is(kind::integer) ||
        !v[2].is(kind::integer) || v[1].as_int() < 0 || v[2].as_int() < 0)
        fail(errc::bad_storage, at, "storage view metadata that is not (key, offset, size)");
    // torch caches a view by its key: every reference to it shares one storage.
    auto [view, first] = view_by_key_.try_emplace(view_key);
    if (first)
        view->second = storage_view(root, view_key, static_cast<std::uint64_t>(v[1].as_int()),
                                    static_cast<std::uint64_t>(v[2].as_int()), at);
    return view->second;
}

value rebuilder::tar_persistent(const value& pid, std::uint64_t at) {
    if (pid.is(kind::tuple)) {  // (class, source file, source) of a module class
        if (pid.size() < 1) fail(errc::bad_storage, at, "an empty persistent id");
        return pid.items()[0];
    }
    std::string text;
    if (!key_text(pid, text)) fail(errc::bad_storage, at, "a persistent id that is neither a key nor a tuple");
    std::int64_t key = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), key);
    if (ec != std::errc{} || end != text.data() + text.size())
        fail(errc::bad_storage, at, "a persistent id '" + text + "' that is not a decimal key");
    if (const value* v = tar_object(key)) return *v;
    fail(errc::missing_record, at, "persistent id " + text +
                                       " names no storage or tensor of the tar's storages and "
                                       "tensors members");
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
    if (!is_tag(cls, known::storage_class))
        fail(errc::bad_storage, at, "a persistent id whose storage class is not a torch storage class");
    if (cls.node_ptr()->aux == 0xFFFF)
        fail(errc::bad_storage, at, "unknown storage class " + std::string(cls.class_name()));
    const auto type = static_cast<dtype>(cls.node_ptr()->aux);

    std::string int_key;
    std::string_view key;
    if (f[2].is(kind::string)) key = f[2].as_string();
    else if (f[2].is(kind::integer)) key = int_key = std::to_string(f[2].as_int());
    else fail(errc::bad_storage, at, "a storage key that is neither text nor an integer");
    if (!f[3].is(kind::string)) fail(errc::bad_storage, at, "a storage location that is not text");
    if (!f[4].is(kind::integer) || f[4].as_int() < 0)
        fail(errc::bad_storage, at, "a storage size that is not a non-negative integer");

    const std::string record = ctx_.record_dir + std::string(key);
    const zip::entry* e = ctx_.archive->find(record);
    if (!e)
        fail(errc::missing_record, at,
             "storage '" + std::string(key) + "' refers to record " + record + ", which the archive lacks");
    // A storage is keyed by its record: the first reference decides its dtype, later ones
    // share it.
    value& slot = by_entry_[static_cast<std::size_t>(e - ctx_.archive->entries().data())];
    if (!slot.is_none()) return slot;
    std::uint64_t nbytes = 0;
    if (mul_overflows(static_cast<std::uint64_t>(f[4].as_int()), element_size(type), nbytes) ||
        nbytes > e->size)
        throw error(errc::bad_storage, std::string(ctx_.where.file), e->name, e->header_offset,
                    "the storage needs " + std::to_string(f[4].as_int()) + " × " +
                        std::to_string(element_size(type)) + " bytes but its record holds " +
                        std::to_string(e->size));
    // Keys restart in each tensor folder (TorchScript's constants/): outside data/ the key
    // names its folder too, so "0" and "constants/0" stay two storages to the caller.
    std::string storage_key = ctx_.record_dir == "data/" ? std::string(key) : record;
    auto& s = storages_.emplace_back(*ctx_.archive, *e, std::move(storage_key), std::string(f[3].as_string()), type,
                                     nbytes,
                                     storage::options{ctx_.swap_bytes, ctx_.options.verify_crc, ctx_.file});
    value ref = ref_to(s, pid);
    slot = ref;
    return ref;
}

std::vector<std::int64_t> rebuilder::int_list(const value& v, const char* what, std::uint64_t at) const {
    if (!v.is(kind::tuple) && !v.is(kind::list))
        fail(errc::bad_tensor, at, std::string("tensor ") + what + " is a " +
                                       std::string(to_string(v.type())) + ", not a tuple");
    const auto items = v.items();
    if (items.size() > ctx_.options.caps.max_dims)
        fail(errc::limit_exceeded, at, std::string("tensor ") + what + " has " +
                                           std::to_string(items.size()) + " dimensions, over the cap of " +
                                           std::to_string(ctx_.options.caps.max_dims));
    std::vector<std::int64_t> out;
    out.reserve(items.size());
    for (const auto& i : items) {
        if (!i.is(kind::integer)) fail(errc::bad_tensor, at, std::string("tensor ") + what + " holds a non-integer");
        out.push_back(i.as_int());
    }
    return out;
}

value rebuilder::tensor_from(const value& ref, std::optional<dtype> explicit_type,
                             const value& offset_v, const value& size_v, const value& stride_v,
                             bool requires_grad, std::uint64_t at, const value* metadata) {
    if (!is_tag(ref, known::storage_ref))
        fail(errc::bad_tensor, at, "a tensor rebuilt from a " + std::string(to_string(ref.type())) +
                                       ", not from a storage");
    if (!offset_v.is(kind::integer) || offset_v.as_int() < 0)
        fail(errc::bad_tensor, at, "a tensor storage offset that is not a non-negative integer");
    const auto shape = int_list(size_v, "size", at);
    const auto strides = int_list(stride_v, "stride", at);
    // torch ≥ 2.0's metadata dict: {'conj': True} / {'neg': True} for lazy views.
    auto flag = [&](std::string_view key) {
        if (!metadata || !metadata->is(kind::dict)) return false;
        const value* v = metadata->get(key);
        return v && v->is(kind::boolean) && v->as_bool();
    };
    return checked_tensor(ref, explicit_type, offset_v.as_int(), shape, strides, at,
                          {requires_grad, flag("conj"), flag("neg")});
}

value rebuilder::tensor_over(const value& ref, std::int64_t offset, std::span<const std::int64_t> shape,
                             std::span<const std::int64_t> strides, std::uint64_t at) {
    if (!is_tag(ref, known::storage_ref)) fail(errc::bad_tensor, at, "a tensor over something that is not a storage");
    if (offset < 0) fail(errc::bad_tensor, at, "a negative storage offset");
    if (shape.size() > ctx_.options.caps.max_dims)
        fail(errc::limit_exceeded, at, "a tensor of " + std::to_string(shape.size()) +
                                           " dimensions, over the cap of " + std::to_string(ctx_.options.caps.max_dims));
    return checked_tensor(ref, std::nullopt, offset, shape, strides, at);
}

// Every reachable element must lie inside the storage, or inside the storage view the
// reference names.
value rebuilder::checked_tensor(const value& ref, std::optional<dtype> explicit_type, std::int64_t offset_in,
                                std::span<const std::int64_t> shape, std::span<const std::int64_t> strides,
                                std::uint64_t at, tensor_flags flags) {
    const storage& s = *ref.node_ptr()->storage_ptr;
    const dtype type = explicit_type.value_or(s.type());
    if (explicit_type && element_size(s.type()) == 1)  // an UntypedStorage: learn the width
        const_cast<storage&>(s).note_view_type(*explicit_type);
    const std::uint64_t limit_bytes = s.nbytes();
    const geometry::extent e = geometry::view_extent(type, shape, strides, offset_in);
    if (e.problem != geometry::problem::none)
        fail(errc::bad_tensor, at, geometry::describe(e, shape.size(), strides.size()));
    if (e.end_byte > limit_bytes)
        throw error(errc::bad_tensor, std::string(ctx_.where.file), s.record(), at,
                    "the tensor (offset " + std::to_string(offset_in) + ", " + std::to_string(shape.size()) +
                        " dims) reaches byte " + std::to_string(e.end_byte) + " of a storage of " +
                        std::to_string(limit_bytes) + " bytes");
    auto& t = tensors_.emplace_back(tensor_view(&s, type, shape, strides, offset_in), s.location(),
                                    flags.requires_grad, false, flags.conj, flags.neg);
    return value::make_tensor(&t);
}

value rebuilder::meta_tensor(const value& type_v, const value& size_v, const value& stride_v,
                             bool rg, std::uint64_t at) {
    if (!is_tag(type_v, known::dtype_global)) fail(errc::bad_tensor, at, "a meta tensor without a dtype");
    auto shape = int_list(size_v, "size", at);
    auto strides = int_list(stride_v, "stride", at);
    if (shape.size() != strides.size()) fail(errc::bad_tensor, at, "a meta tensor whose sizes and strides differ in rank");
    std::uint64_t numel = 1;
    for (auto d : shape) {
        if (d < 0) fail(errc::bad_tensor, at, "a negative size");
        if (mul_overflows(numel, static_cast<std::uint64_t>(d), numel) ||
            numel > static_cast<std::uint64_t>(INT64_MAX) / 16)
            fail(errc::bad_tensor, at, "the meta tensor's element count overflows");
    }
    auto& t = tensors_.emplace_back(
        tensor_view(nullptr, static_cast<dtype>(type_v.node_ptr()->aux), shape, strides, 0),
        "meta", rg, false);
    return value::make_tensor(&t);
}

value rebuilder::storage_tensor(const value& ref) {
    const storage& s = *ref.node_ptr()->storage_ptr;
    const auto n = static_cast<std::int64_t>(s.nbytes() / element_size(s.type()));
    const std::int64_t shape[] = {n}, strides[] = {1};
    auto& t = tensors_.emplace_back(tensor_view(&s, s.type(), shape, strides, 0), s.location(), false, false);
    return value::make_tensor(&t);
}

value rebuilder::as_parameter(const value& t, bool requires_grad, std::uint64_t at) {
    if (!t.is(kind::tensor)) fail(errc::bad_tensor, at, "a Parameter wrapping a " + std::string(to_string(t.type())));
    auto& p = tensors_.emplace_back(t.as_tensor());
    p.mark_parameter(requires_grad);
    return value::make_tensor(&p);
}

value rebuilder::make_bytes_from(const value& text, const value& encoding, std::uint64_t at) {
    if (!text.is(kind::string)) return {};
    std::string enc = encoding.is(kind::string) ? std::string(encoding.as_string()) : "utf-8";
    for (auto& c : enc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string out;
    if (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1") {
        auto latin1 = text::utf8_to_latin1(text.as_string());
        if (!latin1) fail(errc::bad_pickle, at, "_codecs.encode to Latin-1 of text with characters above U+00FF");
        out = std::move(*latin1);
    } else if (enc == "utf-8" || enc == "utf8" || enc == "ascii") {
        out = std::string(text.as_string());
    } else {
        return {};
    }
    return pickle::make_string(nodes_, std::move(out), kind::bytes);
}

value rebuilder::reduce(const value& fn, const value& args_v, std::uint64_t at) {
    const auto a = args_v.items();
    auto arg_bool = [&](std::size_t i) { return i < a.size() && a[i].is(kind::boolean) && a[i].as_bool(); };
    auto need = [&](std::size_t n, const char* what) {
        if (a.size() < n)
            fail(errc::bad_tensor, at, std::string(what) + " called with " + std::to_string(a.size()) +
                                           " arguments, needs " + std::to_string(n));
    };
    switch (tag_of(fn)) {
        case known::rebuild_tensor:
            need(4, "_rebuild_tensor");
            return tensor_from(a[0], std::nullopt, a[1], a[2], a[3], false, at);
        case known::rebuild_tensor_v2:
            need(4, "_rebuild_tensor_v2");
            return tensor_from(a[0], std::nullopt, a[1], a[2], a[3], arg_bool(4), at,
                               a.size() > 6 ? &a[6] : nullptr);
        case known::rebuild_tensor_v3: {
            need(7, "_rebuild_tensor_v3");
            if (!is_tag(a[6], known::dtype_global)) fail(errc::bad_tensor, at, "_rebuild_tensor_v3 without a dtype");
            return tensor_from(a[0], static_cast<dtype>(a[6].node_ptr()->aux), a[1], a[2], a[3],
                               arg_bool(4), at, a.size() > 7 ? &a[7] : nullptr);
        }
        case known::rebuild_qtensor:
            need(6, "_rebuild_qtensor");
            return tensor_from(a[0], std::nullopt, a[1], a[2], a[3], arg_bool(5), at);
        case known::rebuild_meta_tensor_no_storage:
            need(3, "_rebuild_meta_tensor_no_storage");
            return meta_tensor(a[0], a[1], a[2], arg_bool(3), at);
        case known::rebuild_parameter:
        case known::rebuild_parameter_with_state:
            need(2, "_rebuild_parameter");
            return as_parameter(a[0], arg_bool(1), at);
        case known::rebuild_from_type:
        case known::rebuild_from_type_v2: {
            need(3, "_rebuild_from_type");
            if (!a[2].is(kind::tuple)) break;
            // torch loads a few of these nested in each other; each level recurses here, so
            // the nesting is capped (a file of 100,000 levels would overflow the stack).
            if (from_type_depth_ >= max_from_type_depth)
                fail(errc::limit_exceeded, at, "_rebuild_from_type nested deeper than " +
                                                   std::to_string(max_from_type_depth));
            ++from_type_depth_;
            value inner;
            try {
                inner = reduce(a[0], a[2], at);
            } catch (...) {
                --from_type_depth_;
                throw;
            }
            --from_type_depth_;
            if (inner.is(kind::tensor) && tag_of(a[1]) == known::parameter_class)
                return as_parameter(inner, inner.as_tensor().requires_grad(), at);
            if (inner.is(kind::tensor)) return inner;
            break;
        }
        case known::ordered_dict:
        case known::counter:
        case known::defaultdict: {
            auto& n = nodes_.make(kind::dict);
            n.name = std::string(fn.class_name());
            if (!a.empty()) n.depth = depth_through(a[0]);  // keeps the unpickler's nesting cap honest
            if (tag_of(fn) != known::defaultdict && !a.empty()) {
                if (a[0].is(kind::dict)) {
                    n.entries.assign(a[0].entries().begin(), a[0].entries().end());
                } else if (a[0].is(kind::list) || a[0].is(kind::tuple)) {
                    for (const auto& pair : a[0].items()) {
                        if ((!pair.is(kind::tuple) && !pair.is(kind::list)) || pair.size() != 2)
                            fail(errc::bad_pickle, at, "OrderedDict built from an item that is not a pair");
                        n.entries.emplace_back(pair.items()[0], pair.items()[1]);
                    }
                }
            }
            return value::make_node(kind::dict, &n);
        }
        case known::torch_size:
            if (a.size() == 1 && (a[0].is(kind::tuple) || a[0].is(kind::list)))
                return pickle::make_tuple(nodes_, {a[0].items().begin(), a[0].items().end()});
            break;
        case known::codecs_encode:
            if (a.size() >= 1) {
                if (auto b = make_bytes_from(a[0], a.size() > 1 ? a[1] : value{}, at); !b.is_none()) return b;
            }
            break;
        case known::bytes_:  // protocol < 3 pickles b'' as __builtin__.bytes()
        case known::bytearray: {
            value b;
            if (a.empty()) b = pickle::make_string(nodes_, {}, kind::bytes);
            else if (a[0].is(kind::bytes)) b = pickle::make_string(nodes_, std::string(bytes_text(a[0])), kind::bytes);
            else if (a[0].is(kind::string)) b = make_bytes_from(a[0], a.size() > 1 ? a[1] : value{}, at);
            if (b.is_none()) break;
            arena::mut(b).name = std::string(fn.class_name());
            return b;
        }
        case known::set:
        case known::frozenset: {
            auto& n = nodes_.make(kind::set);
            n.name = std::string(fn.class_name());
            if (!a.empty() && (a[0].is(kind::list) || a[0].is(kind::tuple) || a[0].is(kind::set))) {
                n.items.assign(a[0].items().begin(), a[0].items().end());
                n.depth = depth_through(a[0]);
            }
            return value::make_node(kind::set, &n);
        }
        case known::numpy_reconstruct:  // the empty array BUILD fills
        case known::numpy_dtype: {
            value v = pickle::make_object(nodes_, fn.module(), fn.name(), value::origin::call, args_v);
            arena::mut(v).tag = tag_of(fn) == known::numpy_dtype ? known::numpy_dtype : known::numpy_array;
            return v;
        }
        case known::numpy_scalar:  // (dtype, bytes): a 0-d array
            if (a.size() == 2) {
                if (value t = numpy_tensor(a[0], {}, false, a[1], at); !t.is_none()) return t;
            }
            break;
        case known::jit_container:  // (list,) or (container, 'Dict[str, float]'): the container
            if (!a.empty()) return a[0];
            break;
        case known::storage_ref:
            fail(errc::bad_pickle, at, "a storage called as a function");
        default: break;
    }
    // Anything else stays a call we did not make: its arguments keep inner tensors reachable.
    if (!fn.is(kind::object)) fail(errc::bad_pickle, at, "REDUCE of a " + std::string(to_string(fn.type())) + ", which is not callable");
    return pickle::make_object(nodes_, fn.module(), fn.name(), value::origin::call, args_v);
}

value rebuilder::instantiate(const value& cls, const value& args, std::uint64_t at) {
    if (!cls.is(kind::object)) fail(errc::bad_pickle, at, "NEWOBJ of a " + std::string(to_string(cls.type())) + ", which is not a class");
    const auto a = args.items();
    switch (tag_of(cls)) {
        case known::ordered_dict:
        case known::counter:
        case known::defaultdict: {
            auto& n = nodes_.make(kind::dict);
            n.name = std::string(cls.class_name());
            return value::make_node(kind::dict, &n);
        }
        case known::set:
        case known::frozenset: return reduce(cls, args, at);
        case known::parameter_class:
            if (!a.empty() && a[0].is(kind::tensor))
                return as_parameter(a[0], a.size() > 1 && a[1].is(kind::boolean) ? a[1].as_bool() : true, at);
            break;
        default: break;
    }
    return pickle::make_object(nodes_, cls.module(), cls.name(), value::origin::instance, args);
}

void rebuilder::build(const value& target, const value& state, std::uint64_t at) {
    // State is kept, never applied through code: objects and dicts (a state_dict's
    // `_metadata`) hold it; tensors ignore it (Python attributes on tensors).
    if (target.is(kind::object) || target.is(kind::dict)) arena::mut(target).state = state;
    // A numpy array's state (version, shape, dtype, is_fortran, data): its elements become
    // a tensor, which the namer puts where the array was. Object arrays (data is a list) and
    // dtypes torch has no match for stay opaque objects.
    if (tag_of(target) == known::numpy_array && state.is(kind::tuple) && state.size() == 5) {
        const auto s = state.items();
        if (!s[1].is(kind::tuple) && !s[1].is(kind::list)) return;
        const auto shape = int_list(s[1], "size", at);
        if (value t = numpy_tensor(s[2], shape, s[3].is(kind::boolean) && s[3].as_bool(), s[4], at); !t.is_none())
            arena::mut(target).state = t;
    }
}

namespace {
// numpy's type strings (dtype('f4', False, True)) as torch dtypes; nullopt for the rest.
std::optional<dtype> numpy_type(std::string_view code) {
    static constexpr std::pair<std::string_view, dtype> table[] = {
        {"f2", dtype::float16}, {"f4", dtype::float32}, {"f8", dtype::float64},
        {"i1", dtype::int8}, {"i2", dtype::int16}, {"i4", dtype::int32}, {"i8", dtype::int64},
        {"u1", dtype::uint8}, {"u2", dtype::uint16}, {"u4", dtype::uint32}, {"u8", dtype::uint64},
        {"b1", dtype::boolean}, {"c8", dtype::complex64}, {"c16", dtype::complex128},
    };
    for (const auto& [c, t] : table)
        if (c == code) return t;
    return std::nullopt;
}
}  // namespace

value rebuilder::numpy_tensor(const value& dtype_v, std::span<const std::int64_t> shape, bool fortran,
                              const value& data, std::uint64_t at) {
    if (tag_of(dtype_v) != known::numpy_dtype || !data.is(kind::bytes)) return {};
    const value args = dtype_v.args();
    if (!args.is(kind::tuple) || args.size() < 1 || !args.items()[0].is(kind::string)) return {};
    const auto type = numpy_type(args.items()[0].as_string());
    if (!type) return {};
    // The byte order is the dtype's BUILD state (3, '<', …): '<' little, '>' big, '|' none.
    const value st = dtype_v.state();
    const bool big = st.is(kind::tuple) && st.size() > 1 && st.items()[1].is(kind::string) &&
                     st.items()[1].as_string() == ">";
    std::uint64_t numel = 1;
    for (auto d : shape)
        if (d < 0 || mul_overflows(numel, static_cast<std::uint64_t>(d), numel))
            fail(errc::bad_tensor, at, "a numpy array with a negative or overflowing shape");
    const auto bytes = data.as_bytes();
    std::uint64_t nbytes = 0;
    if (mul_overflows(numel, element_size(*type), nbytes) || nbytes != bytes.size())
        fail(errc::bad_tensor, at, "a numpy array of " + std::to_string(numel) + " " + std::string(name(*type)) +
                                       " elements whose data holds " + std::to_string(bytes.size()) + " bytes");
    // Its bytes sit in the pickle: in the file's mapping when data.pkl is stored (large
    // arrays are viewed there, not copied), else in memory the checkpoint keeps.
    const mapped_file* in_file = nullptr;
    if (ctx_.file && !bytes.empty()) {
        const auto f = ctx_.file->bytes();
        if (bytes.data() >= f.data() && bytes.data() + bytes.size() <= f.data() + f.size()) in_file = ctx_.file;
    }
    const std::string key = "numpy@" + std::to_string(at);
    auto& s = storages_.emplace_back(std::string(ctx_.where.file), std::string(ctx_.where.record), key, "cpu", *type,
                                     nbytes,
                                     storage::options{big == (std::endian::native == std::endian::little),
                                                      ctx_.options.verify_crc, in_file});
    s.locate(bytes, at);
    const value ref = ref_to(s);
    std::vector<std::int64_t> strides(shape.size());
    std::int64_t step = 1;
    for (std::size_t i = 0; i < shape.size(); ++i) {  // C order: last dimension fastest
        const std::size_t d = fortran ? i : shape.size() - 1 - i;
        strides[d] = step;
        step *= std::max<std::int64_t>(shape[d], 1);
    }
    value t = checked_tensor(ref, std::nullopt, 0, shape, strides, at);
    const_cast<tensor&>(t.as_tensor()).mark_numpy();  // made just now, in the rebuilder's store
    return t;
}

}  // namespace ptio::detail::torch
