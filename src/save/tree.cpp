// The tree builder's values: scalars, containers and objects, and reading them back. Tensors
// are in tree_tensor.cpp, editing in tree_edit.cpp, conversion from a loaded value in
// tree_from.cpp.
#include "ptio/tree.hpp"

#include "core/text.hpp"
#include "save/tree_node.hpp"

namespace ptio {

using detail::invalid_tree;
using detail::make_node;

// --- scalars and containers -------------------------------------------------------------------

tree::tree() : node_(make_node(kind::none)) {}
tree::tree(bool b) : node_(make_node(kind::boolean)) { node_->b = b; }
tree::tree(double f) : node_(make_node(kind::floating)) { node_->f = f; }
tree::tree(std::string_view s) : node_(make_node(kind::string)) { node_->text = std::string(s); }
tree::tree(int_tag, std::int64_t i) : node_(make_node(kind::integer)) { node_->i = i; }

tree tree::big_int(std::string_view decimal) {
    const auto twos = detail::text::decimal_to_twos(decimal);
    if (!twos) invalid_tree("big_int wants decimal digits, not '" + std::string(decimal) + "'");
    return big_int(std::as_bytes(std::span(*twos)));
}

tree tree::big_int(std::span<const std::byte> twos_complement) {
    // Small enough for an int64: keep it one.
    if (const auto small = detail::text::twos_to_int64(twos_complement)) return tree(int_tag{}, *small);
    tree t(make_node(kind::big_integer));
    t.node_->text.assign(reinterpret_cast<const char*>(twos_complement.data()), twos_complement.size());
    return t;
}

tree tree::bytes(std::span<const std::byte> b) {
    tree t(make_node(kind::bytes));
    t.node_->text.assign(reinterpret_cast<const char*>(b.data()), b.size());
    return t;
}

tree tree::bytearray(std::span<const std::byte> b) {
    tree t = bytes(b);
    t.node_->bytearray = true;
    return t;
}

namespace {
// A fresh list, tuple or set holding `items`.
tree holding(tree t, std::initializer_list<tree> items) {
    detail::tree_access::handle(t)->items.assign(items.begin(), items.end());
    return t;
}
}  // namespace

tree tree::list(std::initializer_list<tree> items) { return holding(tree(make_node(kind::list)), items); }
tree tree::tuple(std::initializer_list<tree> items) { return holding(tree(make_node(kind::tuple)), items); }
tree tree::set(std::initializer_list<tree> items) { return holding(tree(make_node(kind::set)), items); }

tree tree::frozenset(std::initializer_list<tree> items) {
    tree t = set(items);
    t.node_->frozen = true;
    return t;
}

tree tree::dict() { return tree(make_node(kind::dict)); }

tree tree::back_reference(std::string where) {
    auto n = make_node(kind::none);
    n->back_ref = true;
    n->text = std::move(where);
    return tree(std::move(n));
}

void tree::refer_to(const tree& target) {
    if (!node_->back_ref) invalid_tree("tree::refer_to: the tree is not a back_reference()");
    node_->back = target.node_;
}

namespace {
tree dict_of(detail::dict_class c) {
    tree t = tree::dict();
    detail::tree_access::handle(t)->dict = c;
    return t;
}
}  // namespace

tree tree::ordered_dict() { return dict_of(detail::dict_class::ordered_dict); }
tree tree::counter() { return dict_of(detail::dict_class::counter); }
tree tree::defaultdict() { return dict_of(detail::dict_class::defaultdict); }

// --- objects ----------------------------------------------------------------------------------

tree tree::global(std::string module, std::string name) {
    tree t(make_node(kind::object));
    t.node_->module = std::move(module);
    t.node_->name = std::move(name);
    return t;
}

tree tree::call(std::string module, std::string name, tree args) {
    if (args.type() != kind::tuple) invalid_tree("tree::call: the arguments must be a tuple");
    tree t = global(std::move(module), std::move(name));
    t.node_->origin = value::origin::call;
    t.node_->args = args.node_;
    return t;
}

tree tree::instance(std::string module, std::string name, tree args) {
    if (args.type() != kind::tuple) invalid_tree("tree::instance: the arguments must be a tuple");
    tree t = call(std::move(module), std::move(name), std::move(args));
    t.node_->origin = value::origin::instance;
    return t;
}

tree tree::subclass(std::string module, std::string name, tree tensor) {
    if (tensor.type() != kind::tensor) invalid_tree("tree::subclass: the instance's data must be a tensor");
    tree t = call(std::move(module), std::move(name), tuple({std::move(tensor)}));
    t.node_->origin = value::origin::subclass;
    return t;
}

// --- reading back -----------------------------------------------------------------------------

kind tree::type() const noexcept { return node_->type; }

std::span<const std::pair<tree, tree>> tree::entries() const { return node_->entries; }
std::span<const tree> tree::items() const { return node_->items; }

const tree* tree::get(std::string_view key) const {
    for (const auto& [k, v] : node_->entries)
        if (k.type() == kind::string && k.as_string() == key) return &v;
    return nullptr;
}

std::string_view tree::as_string() const {
    if (node_->type != kind::string)
        invalid_tree("tree::as_string on a " + std::string(to_string(node_->type)));
    return node_->text;
}

}  // namespace ptio
