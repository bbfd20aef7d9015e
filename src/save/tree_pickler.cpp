// The tree pickler: each node once, memoised only when the tree shares it, so the pickle is
// what CPython's pickler writes for the same objects (torch.load then shares them too).
#include "save/tree_pickler.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "pickle/pickler.hpp"
#include "ptio/error.hpp"
#include "save/tensor_pickler.hpp"
#include "save/tree_node.hpp"
#include "torch/globals.hpp"

namespace ptio::detail {
namespace {

constexpr std::size_t max_depth = 1000;
constexpr std::size_t batch = 1000;  // APPENDS / SETITEMS batches, as CPython's pickler

constexpr std::size_t max_listed = 20;  // refused globals named in one message

class tree_pickler {
public:
    tree_pickler(const tree& root, const global_policy& policy) : policy_(policy) {
        (void)count(node_of(root), 0);
        if (refused_.empty() || policy_.drop) return;
        std::string list;
        for (std::size_t i = 0; i < refused_.size() && i < max_listed; ++i)
            list += (i ? ", " : "") + refused_[i];
        if (refused_.size() > max_listed) list += ", and " + std::to_string(refused_.size() - max_listed) + " more";
        throw error(errc::unsafe_global,
                    "save: refusing to write " + std::to_string(refused_.size()) +
                        (refused_.size() == 1 ? " global" : " globals") +
                        " outside torch's weights_only allowlist, which torch.load would import "
                        "and call: " + list +
                        "; allow each by name if you trust it (save_options::allow_globals, "
                        "ptio cp --allow-global MODULE.NAME), or write None in place of such "
                        "objects (save_options::drop_objects, ptio cp --drop-objects)");
    }

    /// Each refused global once (with where its file names it), in the order met.
    [[nodiscard]] const std::vector<std::string>& refused() const noexcept { return refused_; }

    std::vector<std::byte> run(const tree& root) {
        emit(node_of(root));
        return p_.finish();
    }

    [[nodiscard]] tensor_pickler& tensors() noexcept { return tensors_; }

private:
    // What a back reference names; the root's handle keeps it alive for the whole save.
    static const tree_node* back_target(const tree_node& n) {
        const auto target = n.back.lock();
        if (!target) invalid_tree("save: a reference back to " + n.text + " outlived the container it names");
        return target.get();
    }

    // Each node's number of references, so that only shared nodes are memoised; a node met
    // again while it is being counted is a cycle. Returns whether the node is or holds a
    // refused object: an object is refused when its global is not allowed, or when its
    // arguments or state hold a refused object (an allowed rebuild called with a refused
    // callable must not be written with None in that callable's place, nor a state with a
    // None torch cannot set).
    bool count(const tree_node& n, std::size_t depth) {
        if (depth > max_depth) invalid_tree("save: more than 1000 levels of nesting");
        if (n.back_ref) {
            // The container named and every node between it and here are memoised as they
            // are made (before their contents), and met again as memo gets.
            const tree_node* target = back_target(n);
            const auto from = std::find(path_.begin(), path_.end(), target);
            if (from == path_.end())
                invalid_tree("save: a reference back to " + n.text + " is not inside that container");
            for (auto it = from; it != path_.end(); ++it)
                if (early_.insert(*it).second) ++refs_[*it];
            return false;
        }
        if (on_path_.contains(&n))
            invalid_tree("save: the tree holds a cycle through a " + std::string(to_string(n.type)) + " that contains itself");
        if (++refs_[&n] > 1) return holds_refused_.contains(&n);
        on_path_.insert(&n);
        path_.push_back(&n);
        bool holds = false;
        for (const auto& i : n.items) holds |= count(node_of(i), depth + 1);
        for (const auto& [k, v] : n.entries) {
            holds |= count(node_of(k), depth + 1);
            holds |= count(node_of(v), depth + 1);
        }
        const bool state_refused = n.state && count(*n.state, depth + 1);
        const bool args_refused = n.args && count(*n.args, depth + 1);
        holds |= state_refused;
        if (n.type == kind::object && (!allowed(n) || args_refused || state_refused)) {
            dropped_.insert(&n);
            holds = true;
        }
        on_path_.erase(&n);
        path_.pop_back();
        if (holds) holds_refused_.insert(&n);
        return holds;
    }

    bool allowed(const tree_node& n) {
        const auto info = torch::classify(n.module, n.name);
        const std::string qualified = n.module + "." + n.name;
        if (info.unsafe)
            throw error(errc::unsafe_global, "save: refusing to write the global " + qualified +
                                                 ", which runs code when torch.load reads it" +
                                                 (n.source.empty() ? "" : " (" + n.source + ")"));
        if (info.writable()) return true;
        for (const auto& a : policy_.allow)
            if (a == qualified) return true;
        if (listed_.insert(qualified).second)
            refused_.push_back(n.source.empty() ? qualified : qualified + " (" + n.source + ")");
        return false;
    }

    void emit(const tree_node& n) {
        if (n.back_ref) {
            const tree_node* target = back_target(n);
            if (const auto it = memo_.find(target); it != memo_.end()) {
                p_.get(it->second);
                return;
            }
            // Met inside what the container is made from (an object's arguments, a tuple's
            // items): made once more here, memoised, and the outer making replaced by it
            // (made() writes POP and a get), as CPython's pickler does. Once only: a
            // container made of nothing but itself cannot be built by a pickle.
            if (!remade_.insert(target).second)
                invalid_tree("save: the tree holds a cycle through " + n.text +
                             ", which pickle cannot build (an object inside nothing but its own "
                             "arguments, or a tuple or set made of itself)");
            emit_fresh(*target);
            if (!memo_.contains(target)) memo_.emplace(target, p_.put());
            return;
        }
        if (dropped_.contains(&n)) {  // only with policy_.drop: the constructor threw otherwise
            p_.none();
            return;
        }
        const bool shared = refs_[&n] > 1;
        if (shared)
            if (auto it = memo_.find(&n); it != memo_.end()) {
                p_.get(it->second);
                return;
            }
        emit_fresh(n);
        if (shared && !memo_.contains(&n)) memo_.emplace(&n, p_.put());
    }

    // A node on a cycle is memoised as soon as it exists (before its items, entries or
    // state), as CPython's pickler memoises every object. True when it was made already
    // inside itself: what was just built is dropped for the memo's copy, and the caller
    // writes nothing more of it (its contents went with the inner making).
    bool made(const tree_node& n) {
        if (!early_.contains(&n)) return false;
        if (const auto it = memo_.find(&n); it != memo_.end()) {
            p_.pop();
            p_.get(it->second);
            return true;
        }
        memo_.emplace(&n, p_.put());
        return false;
    }

    void emit_items(const std::vector<tree>& items) {
        for (std::size_t at = 0; at < items.size(); at += batch) {
            const std::size_t end = std::min(items.size(), at + batch);
            if (end - at == 1) {
                emit(node_of(items[at]));
                p_.append();
                continue;
            }
            p_.mark();
            for (std::size_t i = at; i < end; ++i) emit(node_of(items[i]));
            p_.appends();
        }
    }

    void emit_entries(const std::vector<std::pair<tree, tree>>& entries) {
        for (std::size_t at = 0; at < entries.size(); at += batch) {
            const std::size_t end = std::min(entries.size(), at + batch);
            if (end - at == 1) {
                emit(node_of(entries[at].first));
                emit(node_of(entries[at].second));
                p_.setitem();
                continue;
            }
            p_.mark();
            for (std::size_t i = at; i < end; ++i) {
                emit(node_of(entries[i].first));
                emit(node_of(entries[i].second));
            }
            p_.setitems();
        }
    }

    void emit_tuple(const std::vector<tree>& items) {
        if (items.size() <= 3) {
            for (const auto& i : items) emit(node_of(i));
            p_.tuple_small(items.size());
            return;
        }
        p_.mark();
        for (const auto& i : items) emit(node_of(i));
        p_.tuple_from_mark();
    }

    // bytes in protocol 2: _codecs.encode(latin-1 text, "latin1"), as CPython writes them.
    void emit_bytes(const std::string& b) {
        p_.global("_codecs", "encode");
        std::string text;
        text.reserve(b.size() + b.size() / 4);
        for (unsigned char c : b) {
            if (c < 0x80) {
                text.push_back(static_cast<char>(c));
            } else {
                text.push_back(static_cast<char>(0xC0 | (c >> 6)));
                text.push_back(static_cast<char>(0x80 | (c & 0x3F)));
            }
        }
        p_.string(text);
        p_.string("latin1");
        p_.tuple_small(2);
        p_.reduce();
    }

    void emit_global(const std::string& module, const std::string& name) {
        const auto info = torch::classify(module, name);
        if (info.unsafe)
            throw error(errc::unsafe_global, "save: refusing to write the global " + module + "." +
                                                 name + ", which runs code when torch.load reads it");
        // A nested class (Outer.Inner) as protocol 2 names one: getattr(Outer, "Inner").
        const auto dot = name.rfind('.');
        if (dot == std::string::npos || dot == 0 || dot + 1 == name.size()) return p_.global(module, name);
        p_.global("builtins", "getattr");
        emit_global(module, name.substr(0, dot));
        p_.string(name.substr(dot + 1));
        p_.tuple_small(2);
        p_.reduce();
    }

    void emit_fresh(const tree_node& n) {
        switch (n.type) {
            case kind::none: p_.none(); return;
            case kind::boolean: p_.boolean(n.b); return;
            case kind::integer: p_.integer(n.i); return;
            case kind::big_integer:
                p_.long_bytes({reinterpret_cast<const std::byte*>(n.text.data()), n.text.size()});
                return;
            case kind::floating: p_.floating(n.f); return;
            case kind::string: p_.string(n.text); return;
            case kind::bytes:
                if (n.bytearray) {
                    p_.global("builtins", "bytearray");
                    emit_bytes(n.text);
                    p_.tuple_small(1);
                    p_.reduce();
                } else {
                    emit_bytes(n.text);
                }
                return;
            case kind::list:
                p_.empty_list();
                (void)made(n);
                emit_items(n.items);
                return;
            case kind::tuple:
                emit_tuple(n.items);
                (void)made(n);
                return;
            case kind::set:
                p_.global("builtins", n.frozen ? "frozenset" : "set");
                p_.empty_list();
                emit_items(n.items);
                p_.tuple_small(1);
                p_.reduce();
                (void)made(n);
                return;
            case kind::dict: emit_dict(n); return;
            case kind::tensor: tensors_.tensor(n); return;
            case kind::object: emit_object(n); return;
        }
        invalid_tree("save: a node of unknown kind");
    }

    void emit_dict(const tree_node& n) {
        switch (n.dict) {
            case dict_class::dict:
                p_.empty_dict();
                (void)made(n);
                emit_entries(n.entries);
                break;
            case dict_class::ordered_dict:
                p_.global("collections", "OrderedDict");
                p_.empty_tuple();
                p_.reduce();
                (void)made(n);
                emit_entries(n.entries);
                break;
            case dict_class::counter:
                p_.global("collections", "Counter");
                p_.empty_dict();
                emit_entries(n.entries);
                p_.tuple_small(1);
                p_.reduce();
                if (made(n)) return;
                break;
            case dict_class::defaultdict:  // the factory was not kept: None
                p_.global("collections", "defaultdict");
                p_.none();
                p_.tuple_small(1);
                p_.reduce();
                (void)made(n);
                emit_entries(n.entries);
                break;
        }
        if (n.state) {
            emit(*n.state);
            p_.build();
        }
    }

    void emit_object(const tree_node& n) {
        if (n.origin == value::origin::subclass) return emit_subclass(n);
        emit_global(n.module, n.name);
        if (n.origin != value::origin::global) {
            if (!n.args || n.args->type != kind::tuple)
                invalid_tree("save: the object " + n.module + "." + n.name + " has no argument tuple");
            emit(*n.args);
            if (n.origin == value::origin::call)
                p_.reduce();
            else
                p_.newobj();
        }
        if (made(n)) return;
        if (!n.items.empty()) emit_items(n.items);
        if (!n.entries.empty()) emit_entries(n.entries);
        if (n.state) {
            emit(*n.state);
            p_.build();
        }
    }

    // A tensor subclass as torch saves one: _rebuild_from_type_v2(rebuild function, class,
    // its arguments, the instance's attributes). The class passed the policy in count().
    void emit_subclass(const tree_node& n) {
        const tree_node* t = n.args && n.args->type == kind::tuple && n.args->items.size() == 1
                                 ? &node_of(n.args->items[0]) : nullptr;
        if (!t || t->type != kind::tensor || t->parameter || t->storage_only || is_quantized(t->elem))
            invalid_tree("save: the tensor subclass " + n.module + "." + n.name +
                         " needs one plain tensor as its argument");
        ++tensors_.count;
        p_.global("torch._tensor", "_rebuild_from_type_v2");
        p_.mark();
        tensors_.rebuild_function(*t);
        emit_global(n.module, n.name);
        tensors_.rebuild_args(*t);
        if (n.state)
            emit(*n.state);
        else
            p_.empty_dict();  // torch 1.13 cannot set a None state
        p_.tuple_from_mark();
        p_.reduce();
    }

    const global_policy& policy_;
    std::unordered_set<const tree_node*> dropped_;        // objects written as None
    std::unordered_set<const tree_node*> holds_refused_;  // nodes at or above one
    std::unordered_set<std::string> listed_;
    std::vector<std::string> refused_;
    pickle::pickler p_;
    tensor_pickler tensors_{p_};  // after p_, which it writes to
    std::unordered_map<const tree_node*, std::size_t> refs_;
    std::unordered_set<const tree_node*> on_path_;
    std::unordered_map<const tree_node*, std::uint32_t> memo_;
    std::unordered_set<const tree_node*> early_;   // nodes on a cycle: memoised as made
    std::unordered_set<const tree_node*> remade_;  // made again inside themselves
    std::vector<const tree_node*> path_;           // count()'s way down, for back references
};

}  // namespace

pickled_tree pickle_tree(const tree& root, const global_policy& policy) {
    tree_pickler pickler(root, policy);
    pickled_tree out;
    out.dropped = pickler.refused();
    out.pkl = pickler.run(root);
    out.storages = std::move(pickler.tensors().storages);
    out.tensors = pickler.tensors().count;
    return out;
}

}  // namespace ptio::detail
