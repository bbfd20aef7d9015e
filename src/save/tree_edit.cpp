// Editing a tree in place: dict entries (set, erase, rename), list items, tensor flags and
// BUILD state. Each edit checks the node's kind first, so a misuse names what it was asked
// of and what the node is, and refuses a child that holds the node it is put into: nodes own
// their children through shared_ptr, so a cycle would own itself and never be freed (and
// save could not write it anyway).
#include <algorithm>
#include <unordered_set>

#include "ptio/tree.hpp"
#include "save/tree_node.hpp"

namespace ptio {
namespace {

using detail::invalid_tree;

// Keys equal as Python's dict would find them, for the kinds a checkpoint uses as keys.
bool same_key(const tree& a, const tree& b) {
    const auto& x = detail::node_of(a);
    const auto& y = detail::node_of(b);
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

bool is_sequence(kind k) noexcept { return k == kind::list || k == kind::tuple || k == kind::set; }

// Refuses to put `child` into `into` when `child` is `into` or reaches it. Iterative, so a
// deep child cannot overflow the stack; each node is visited once, so shared subtrees cost
// their size, not their number of paths.
void refuse_cycle(const detail::tree_node& into, const tree& child, const char* what) {
    const auto& c = detail::node_of(child);
    // The common case, a leaf (a tensor, a key), costs no allocation.
    if (&c != &into && c.items.empty() && c.entries.empty() && !c.state && !c.args) return;
    std::vector<const detail::tree_node*> todo{&c};
    std::unordered_set<const detail::tree_node*> seen;
    while (!todo.empty()) {
        const detail::tree_node* n = todo.back();
        todo.pop_back();
        if (n == &into)
            invalid_tree(std::string("tree::") + what + ": the tree would hold a cycle through this " +
                         std::string(to_string(into.type)) + " (the value holds it)");
        if (!seen.insert(n).second) continue;
        for (const auto& i : n->items) todo.push_back(&detail::node_of(i));
        for (const auto& [k, v] : n->entries) {
            todo.push_back(&detail::node_of(k));
            todo.push_back(&detail::node_of(v));
        }
        if (n->state) todo.push_back(n->state.get());
        if (n->args) todo.push_back(n->args.get());
    }
}

}  // namespace

detail::tree_node& tree::mut(kind expected, const char* what) {
    if (node_->type != expected)
        invalid_tree(std::string("tree::") + what + " on a " + std::string(to_string(node_->type)) +
                     ", not a " + std::string(to_string(expected)));
    return *node_;
}

tree& tree::set(tree key, tree v) {
    auto& n = mut(node_->type == kind::object ? kind::object : kind::dict, "set");
    refuse_cycle(n, key, "set");
    refuse_cycle(n, v, "set");
    if (key.type() == kind::string) {
        if (!n.str_keys_valid) {
            n.str_keys.clear();
            for (std::size_t i = 0; i < n.entries.size(); ++i)
                if (n.entries[i].first.type() == kind::string)
                    n.str_keys.emplace(detail::node_of(n.entries[i].first).text, i);
            n.str_keys_valid = true;
        }
        const auto [it, fresh] = n.str_keys.emplace(key.node_->text, n.entries.size());
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
    auto& n = mut(is_sequence(node_->type) || node_->type == kind::object ? node_->type : kind::list, "append");
    refuse_cycle(n, v, "append");
    n.items.push_back(std::move(v));
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
        invalid_tree("tree::state on a " + std::string(to_string(node_->type)) + ", not a dict or object");
    refuse_cycle(*node_, s, "state");
    node_->state = s.node_;
    return *this;
}

void tree::rename(std::size_t i, tree key) {
    auto& n = mut(kind::dict, "rename");
    if (i >= n.entries.size()) invalid_tree("tree::rename: no entry " + std::to_string(i));
    refuse_cycle(n, key, "rename");
    n.entries[i].first = std::move(key);
    n.str_keys_valid = false;
}

void tree::replace(std::size_t i, tree v) {
    auto& n = *node_;
    refuse_cycle(n, v, "replace");
    if (n.type == kind::dict && i < n.entries.size()) {
        n.entries[i].second = std::move(v);
    } else if (is_sequence(n.type) && i < n.items.size()) {
        n.items[i] = std::move(v);
    } else {
        invalid_tree("tree::replace: no item " + std::to_string(i) + " in a " + std::string(to_string(n.type)));
    }
}

void tree::remove(std::size_t i) {
    auto& n = *node_;
    if (n.type == kind::dict && i < n.entries.size()) {
        n.entries.erase(n.entries.begin() + static_cast<std::ptrdiff_t>(i));
        n.str_keys_valid = false;
    } else if (is_sequence(n.type) && i < n.items.size()) {
        n.items.erase(n.items.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
        invalid_tree("tree::remove: no item " + std::to_string(i) + " in a " + std::string(to_string(n.type)));
    }
}

}  // namespace ptio
