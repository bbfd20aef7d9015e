#include "ptio/tree.hpp"

#include <algorithm>
#include <unordered_map>

#include "core/geometry.hpp"
#include "core/text.hpp"
#include "ptio/error.hpp"
#include "ptio/load.hpp"
#include "ptio/tensor.hpp"
#include "torch/storage.hpp"
#include "save/tree_node.hpp"

namespace ptio {
namespace {

using detail::tree_node;

std::shared_ptr<tree_node> make(kind k) {
    auto n = std::make_shared<tree_node>();
    n->type = k;
    return n;
}

[[noreturn]] void invalid(const std::string& what) { throw error(errc::invalid_argument, what); }

void check_view(const tree_node& n, const char* where) {
    for (auto v : n.shape)
        if (v < 0) invalid(std::string(where) + ": negative size");
    if (n.strides.size() != n.shape.size())
        invalid(std::string(where) + ": " + std::to_string(n.strides.size()) + " strides for " +
                std::to_string(n.shape.size()) + " dimensions");
    for (auto v : n.strides)
        if (v < 0) invalid(std::string(where) + ": negative stride");
    if (n.offset < 0) invalid(std::string(where) + ": negative storage offset");
}

}  // namespace

// --- storage_ref ------------------------------------------------------------------------------

storage_ref storage_ref::borrow(std::span<const std::byte> bytes, std::string location) {
    auto s = std::make_shared<detail::save_storage>();
    s->identity = s.get();
    s->nbytes = bytes.size();
    s->location = std::move(location);
    s->borrowed = bytes;
    return storage_ref(std::move(s));
}

storage_ref storage_ref::own(std::vector<std::byte> bytes, std::string location) {
    auto s = std::make_shared<detail::save_storage>();
    s->identity = s.get();
    s->nbytes = bytes.size();
    s->location = std::move(location);
    s->owned = std::move(bytes);
    s->borrowed = s->owned;
    return storage_ref(std::move(s));
}

std::uint64_t storage_ref::nbytes() const noexcept { return s_ ? s_->nbytes : 0; }
const std::string& storage_ref::location() const noexcept {
    static const std::string none;
    return s_ ? s_->location : none;
}

// --- scalars and containers -------------------------------------------------------------------

tree::tree() : node_(make(kind::none)) {}
tree::tree(bool b) : node_(make(kind::boolean)) { node_->b = b; }
tree::tree(double f) : node_(make(kind::floating)) { node_->f = f; }
tree::tree(std::string_view s) : node_(make(kind::string)) { node_->text = std::string(s); }
tree::tree(int_tag, std::int64_t i) : node_(make(kind::integer)) { node_->i = i; }

tree tree::big_int(std::string_view decimal) {
    const auto twos = detail::text::decimal_to_twos(decimal);
    if (!twos) invalid("big_int wants decimal digits, not '" + std::string(decimal) + "'");
    const std::string& bytes = *twos;
    // Small enough for an int64: keep it one.
    if (bytes.size() <= 8) {
        std::uint64_t u = 0;
        for (std::size_t i = 0; i < 8; ++i) {
            const unsigned b = i < bytes.size() ? static_cast<unsigned char>(bytes[i])
                               : (static_cast<unsigned char>(bytes.back()) & 0x80) != 0 ? 0xFFu : 0u;
            u |= static_cast<std::uint64_t>(b) << (8 * i);
        }
        return tree(int_tag{}, static_cast<std::int64_t>(u));
    }
    tree t(make(kind::big_integer));
    t.node_->text = std::move(bytes);
    return t;
}

tree tree::bytes(std::span<const std::byte> b) {
    tree t(make(kind::bytes));
    t.node_->text.assign(reinterpret_cast<const char*>(b.data()), b.size());
    return t;
}

tree tree::bytearray(std::span<const std::byte> b) {
    tree t = bytes(b);
    t.node_->bytearray = true;
    return t;
}

tree tree::list(std::initializer_list<tree> items) {
    tree t(make(kind::list));
    t.node_->items.assign(items.begin(), items.end());
    return t;
}

tree tree::tuple(std::initializer_list<tree> items) {
    tree t(make(kind::tuple));
    t.node_->items.assign(items.begin(), items.end());
    return t;
}

tree tree::set(std::initializer_list<tree> items) {
    tree t(make(kind::set));
    t.node_->items.assign(items.begin(), items.end());
    return t;
}

tree tree::frozenset(std::initializer_list<tree> items) {
    tree t = set(items);
    t.node_->frozen = true;
    return t;
}

tree tree::dict() { return tree(make(kind::dict)); }

tree tree::ordered_dict() {
    tree t = dict();
    t.node_->dict = detail::dict_class::ordered_dict;
    return t;
}

// --- tensors ----------------------------------------------------------------------------------

tree tree::tensor(dtype type, shape_type shape, std::span<const std::byte> bytes) {
    auto strides = detail::geometry::contiguous_strides(shape);
    return tensor(storage_ref::borrow(bytes), type, std::move(shape), std::move(strides), 0);
}

tree tree::tensor(const storage_ref& storage, dtype type, shape_type shape, shape_type strides,
                  std::int64_t storage_offset) {
    if (!storage.get()) invalid("tree::tensor: an empty storage_ref");
    tree t(make(kind::tensor));
    auto& n = *t.node_;
    n.storage = storage.get();
    n.elem = type;
    n.shape = std::move(shape);
    n.strides = strides.empty() && !n.shape.empty() ? detail::geometry::contiguous_strides(n.shape) : std::move(strides);
    n.offset = storage_offset;
    check_view(n, "tree::tensor");
    // The farthest element must lie inside the storage.
    const auto e = detail::geometry::view_extent(type, n.shape, n.strides, n.offset);
    if (e.problem != detail::geometry::problem::none)
        invalid("tree::tensor: " + detail::geometry::describe(e, n.shape.size(), n.strides.size()));
    const std::uint64_t need = e.end_byte;
    if (need > n.storage->nbytes)
        invalid("tree::tensor: the view reaches byte " + std::to_string(need) + " of a storage of " +
                std::to_string(n.storage->nbytes) + " bytes");
    return t;
}

tree tree::tensor(const ptio::tensor& src) {
    const tensor_view& v = src.view();
    tree t(make(kind::tensor));
    auto& n = *t.node_;
    n.elem = v.dtype();
    n.shape.assign(v.shape().begin(), v.shape().end());
    n.strides.assign(v.strides().begin(), v.strides().end());
    n.offset = v.storage_offset();
    n.requires_grad = src.requires_grad();
    n.parameter = src.is_parameter();
    n.conj = src.is_conj();
    n.neg = src.is_neg();
    if (const detail::storage* s = detail::storage_of(v)) {
        auto ss = std::make_shared<detail::save_storage>();
        ss->identity = s;
        ss->nbytes = s->nbytes();
        ss->location = s->location();
        ss->checkpoint = s;
        n.storage = std::move(ss);
    }
    return t;
}

tree tree::tensor(const device_tensor& src) {
    tree t = tensor(src.source());
    auto& n = *t.node_;
    if (src.device().is_meta()) {
        n.storage.reset();
        return t;
    }
    auto ss = std::make_shared<detail::save_storage>();
    // Placed tensors share device memory exactly when they share a storage of the file; the
    // file's storage is the identity (empty storages may share one device address).
    const detail::storage* of_file = detail::storage_of(src.source().view());
    ss->identity = of_file != nullptr ? static_cast<const void*>(of_file) : src.storage_data();
    ss->nbytes = src.storage_nbytes();
    ss->location = src.device().str();
    ss->device = &src;
    n.storage = std::move(ss);
    return t;
}

tree tree::meta_tensor(dtype type, shape_type shape, shape_type strides) {
    tree t(make(kind::tensor));
    auto& n = *t.node_;
    n.elem = type;
    n.strides = strides.empty() ? detail::geometry::contiguous_strides(shape) : std::move(strides);
    n.shape = std::move(shape);
    check_view(n, "tree::meta_tensor");
    return t;
}

// --- objects ----------------------------------------------------------------------------------

tree tree::global(std::string module, std::string name) {
    tree t(make(kind::object));
    t.node_->module = std::move(module);
    t.node_->name = std::move(name);
    return t;
}

tree tree::call(std::string module, std::string name, tree args) {
    if (args.type() != kind::tuple) invalid("tree::call: the arguments must be a tuple");
    tree t = global(std::move(module), std::move(name));
    t.node_->origin = value::origin::call;
    t.node_->args = args.node_;
    return t;
}

// --- from a loaded value ----------------------------------------------------------------------

namespace {

struct converter {
    std::unordered_map<const void*, tree> seen;

    tree convert(const value& v, std::size_t depth) {
        if (depth > 1000) throw error(errc::limit_exceeded, "tree::from: more than 1000 levels of nesting");
        const void* id = v.is(kind::tensor) ? static_cast<const void*>(&v.as_tensor())
                                            : v.identity();
        if (id != nullptr)
            if (auto it = seen.find(id); it != seen.end()) return it->second;
        tree t = fresh(v, depth);
        if (id != nullptr) seen.emplace(id, t);
        return t;
    }

    tree fresh(const value& v, std::size_t depth) {
        switch (v.type()) {
            case kind::none: return tree();
            case kind::boolean: return tree(v.as_bool());
            case kind::integer: return tree(v.as_int());
            case kind::big_integer: return tree::big_int(v.int_text());
            case kind::floating: return tree(v.as_float());
            case kind::string: return tree(v.as_string());
            case kind::bytes:
                return v.class_name() == "builtins.bytearray" ? tree::bytearray(v.as_bytes())
                                                              : tree::bytes(v.as_bytes());
            case kind::list:
            case kind::tuple:
            case kind::set: {
                tree t = v.is(kind::list) ? tree::list() : v.is(kind::tuple) ? tree::tuple() : tree::set();
                if (v.is(kind::set)) t.handle()->frozen = v.class_name() == "builtins.frozenset";
                for (const auto& item : v.items()) t.handle()->items.push_back(convert(item, depth + 1));
                return t;
            }
            case kind::dict: {
                tree t = tree::dict();
                const auto cls = v.class_name();
                t.handle()->dict = cls == "collections.OrderedDict" ? detail::dict_class::ordered_dict
                                : cls == "collections.Counter"   ? detail::dict_class::counter
                                : cls == "collections.defaultdict" ? detail::dict_class::defaultdict
                                                                   : detail::dict_class::dict;
                for (const auto& [k, val] : v.entries())
                    t.handle()->entries.emplace_back(convert(k, depth + 1), convert(val, depth + 1));
                if (!v.state().is_none()) t.handle()->state = convert(v.state(), depth + 1).handle();
                return t;
            }
            case kind::tensor: return tree::tensor(v.as_tensor());
            case kind::object: {
                tree t = tree::global(std::string(v.module()), std::string(v.name()));
                auto& n = *t.handle();
                n.origin = v.object_origin();
                if (n.origin != value::origin::global) n.args = convert(v.args(), depth + 1).handle();
                for (const auto& item : v.items()) n.items.push_back(convert(item, depth + 1));
                for (const auto& [k, val] : v.entries())
                    n.entries.emplace_back(convert(k, depth + 1), convert(val, depth + 1));
                if (!v.state().is_none()) n.state = convert(v.state(), depth + 1).handle();
                return t;
            }
        }
        invalid("tree::from: a value of unknown kind");
    }
};

}  // namespace

tree tree::from(const value& v) {
    converter c;
    return c.convert(v, 0);
}

// --- building and reading ---------------------------------------------------------------------

detail::tree_node& tree::mut(kind expected, const char* what) {
    if (node_->type != expected)
        invalid(std::string("tree::") + what + " on a " + std::string(to_string(node_->type)) +
                ", not a " + std::string(to_string(expected)));
    return *node_;
}

namespace {
bool same_key(const tree& a, const tree& b) {
    const auto& x = a.node();
    const auto& y = b.node();
    if (&x == &y) return true;
    if (x.type != y.type) return false;
    switch (x.type) {
        case kind::none: return true;
        case kind::boolean: return x.b == y.b;
        case kind::integer: return x.i == y.i;
        case kind::floating: return x.f == y.f;
        case kind::string:
        case kind::bytes:
        case kind::big_integer: return x.text == y.text;
        default: return false;  // other keys compare by identity
    }
}
}  // namespace

tree& tree::set(tree key, tree v) {
    auto& n = mut(kind::dict, "set");
    if (key.type() == kind::string) {
        if (!n.str_keys_valid) {
            n.str_keys.clear();
            for (std::size_t i = 0; i < n.entries.size(); ++i)
                if (n.entries[i].first.type() == kind::string)
                    n.str_keys.emplace(n.entries[i].first.node().text, i);
            n.str_keys_valid = true;
        }
        const auto [it, fresh] = n.str_keys.emplace(key.node().text, n.entries.size());
        if (!fresh)
            n.entries[it->second].second = std::move(v);
        else
            n.entries.emplace_back(std::move(key), std::move(v));
        return *this;
    }
    for (auto& [k, val] : n.entries)
        if (same_key(k, key)) {
            val = std::move(v);
            return *this;
        }
    n.entries.emplace_back(std::move(key), std::move(v));
    return *this;
}

tree& tree::append(tree v) {
    mut(kind::list, "append").items.push_back(std::move(v));
    return *this;
}

bool tree::erase(std::string_view key) {
    auto& n = mut(kind::dict, "erase");
    auto it = std::find_if(n.entries.begin(), n.entries.end(), [&](const auto& e) {
        return e.first.type() == kind::string && e.first.as_string() == key;
    });
    if (it == n.entries.end()) return false;
    n.entries.erase(it);
    n.str_keys_valid = false;
    return true;
}

tree& tree::requires_grad(bool on) {
    mut(kind::tensor, "requires_grad").requires_grad = on;
    return *this;
}

tree& tree::parameter(bool on) {
    mut(kind::tensor, "parameter").parameter = on;
    return *this;
}

tree& tree::state(tree s) {
    if (node_->type != kind::dict && node_->type != kind::object)
        invalid("tree::state on a " + std::string(to_string(node_->type)) + ", not a dict or object");
    node_->state = s.node_;
    return *this;
}

kind tree::type() const noexcept { return node_->type; }

std::span<const std::pair<tree, tree>> tree::entries() const { return node_->entries; }
std::span<const tree> tree::items() const { return node_->items; }

const tree* tree::get(std::string_view key) const {
    for (const auto& [k, v] : node_->entries)
        if (k.type() == kind::string && k.as_string() == key) return &v;
    return nullptr;
}

void tree::rename(std::size_t i, tree key) {
    auto& n = mut(kind::dict, "rename");
    if (i >= n.entries.size()) invalid("tree::rename: no entry " + std::to_string(i));
    n.entries[i].first = std::move(key);
    n.str_keys_valid = false;
}

void tree::replace(std::size_t i, tree v) {
    auto& n = *node_;
    if (n.type == kind::dict && i < n.entries.size()) {
        n.entries[i].second = std::move(v);
    } else if ((n.type == kind::list || n.type == kind::tuple || n.type == kind::set) && i < n.items.size()) {
        n.items[i] = std::move(v);
    } else {
        invalid("tree::replace: no item " + std::to_string(i) + " in a " + std::string(to_string(n.type)));
    }
}

void tree::remove(std::size_t i) {
    auto& n = *node_;
    if (n.type == kind::dict && i < n.entries.size()) {
        n.entries.erase(n.entries.begin() + static_cast<std::ptrdiff_t>(i));
        n.str_keys_valid = false;
    } else if ((n.type == kind::list || n.type == kind::tuple || n.type == kind::set) && i < n.items.size()) {
        n.items.erase(n.items.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
        invalid("tree::remove: no item " + std::to_string(i) + " in a " + std::string(to_string(n.type)));
    }
}

std::string_view tree::as_string() const {
    if (node_->type != kind::string)
        invalid("tree::as_string on a " + std::string(to_string(node_->type)));
    return node_->text;
}

}  // namespace ptio
