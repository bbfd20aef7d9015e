// tree::from: a loaded value rebuilt as a tree. A node the file shared (memoised in its
// pickle) maps to one tree node, so saving the result shares it again; tensors stay views of
// the open checkpoint. A value that contains itself (a pickle builds one through its memo: a
// scheduler whose bound method holds the scheduler) becomes a back reference to the node
// that holds it, which the tree does not own (tree_node::back_ref); the pickler writes it as
// a memo get when the container is made by then (a list, a dict, an object inside its own
// state), and refuses it, naming the path, where pickle cannot (a tuple or set in itself).
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"
#include "ptio/tree.hpp"
#include "save/tree_node.hpp"

namespace ptio {
namespace {

using detail::tree_access;

// One step from a container down to a child, kept only to name a cycle's path.
struct step {
    const value* key = nullptr;  // a dict entry's key (its value or the key itself), or null
    std::size_t index = 0;       // an item's place when key is null
    const char* field = nullptr;  // "state" or "args", or null
    const void* id = nullptr;     // the child's identity
};

// `["layer"][0].state`: dict keys that are str or int as Python writes them, others by kind.
std::string render(const std::vector<step>& path, std::size_t from, std::size_t to) {
    std::string out;
    for (std::size_t i = from; i < to; ++i) {
        const step& s = path[i];
        if (s.field != nullptr) {
            out += std::string(".") + s.field;
        } else if (s.key == nullptr) {
            out += "[" + std::to_string(s.index) + "]";
        } else if (s.key->is(kind::string)) {
            out += "[\"" + std::string(s.key->as_string()) + "\"]";
        } else if (s.key->is(kind::integer)) {
            out += "[" + std::to_string(s.key->as_int()) + "]";
        } else {
            out += "[<" + std::string(to_string(s.key->type())) + " key>]";
        }
    }
    return out;
}

struct converter {
    std::unordered_map<const void*, tree> seen;
    std::unordered_map<std::string, std::string> where;  // "module.name" → its first place
    std::unordered_set<const void*> on_path;  // containers being converted
    // back references made inside a container still being converted, by its identity
    std::unordered_map<const void*, std::vector<tree>> pending;
    std::vector<step> path;

    tree convert(const value& v, std::size_t depth) {
        const void* id = v.is(kind::tensor) ? static_cast<const void*>(&v.as_tensor())
                                            : v.identity();
        if (id != nullptr) {
            if (auto it = seen.find(id); it != seen.end()) return it->second;
            if (on_path.contains(id)) return back_reference(id);
        }
        if (depth > 1000) throw error(errc::limit_exceeded, "tree::from: more than 1000 levels of nesting");
        if (id != nullptr) on_path.insert(id);
        tree t = fresh(v, depth);
        if (id != nullptr) {
            on_path.erase(id);
            seen.emplace(id, t);
            if (auto it = pending.find(id); it != pending.end()) {  // the node exists now
                for (tree& b : it->second) b.refer_to(t);
                pending.erase(it);
            }
        }
        return t;
    }

    // A reference to the container `id` being converted, resolved once it is made.
    tree back_reference(const void* id) {
        std::size_t start = 0;  // the steps that first reached the container; 0: the root
        for (std::size_t i = 0; i + 1 < path.size(); ++i)
            if (path[i].id == id) start = i + 1;
        tree b = tree::back_reference("root" + render(path, 0, start) + ", which holds itself at root" +
                                      render(path, 0, path.size()));
        pending[id].push_back(b);
        return b;
    }

    tree child(const value& v, step s, std::size_t depth) {
        s.id = v.is(kind::tensor) ? static_cast<const void*>(&v.as_tensor()) : v.identity();
        path.push_back(s);
        tree t = convert(v, depth + 1);
        path.pop_back();
        return t;
    }
    tree item(const value& v, std::size_t i, std::size_t depth) { return child(v, {.index = i}, depth); }
    tree entry(const value& v, const value& key, std::size_t depth) { return child(v, {.key = &key}, depth); }
    tree field(const value& v, const char* name, std::size_t depth) { return child(v, {.field = name}, depth); }

    tree fresh(const value& v, std::size_t depth) {
        switch (v.type()) {
            case kind::none: return tree();
            case kind::boolean: return tree(v.as_bool());
            case kind::integer: return tree(v.as_int());
            case kind::big_integer: return tree::big_int(v.as_bytes());
            case kind::floating: return tree(v.as_float());
            case kind::string: return tree(v.as_string());
            case kind::bytes:
                return v.class_name() == "builtins.bytearray" ? tree::bytearray(v.as_bytes())
                                                              : tree::bytes(v.as_bytes());
            case kind::list:
            case kind::tuple:
            case kind::set: {
                tree t = v.is(kind::list) ? tree::list() : v.is(kind::tuple) ? tree::tuple() : tree::set();
                auto& n = *tree_access::handle(t);
                if (v.is(kind::set)) n.frozen = v.class_name() == "builtins.frozenset";
                for (std::size_t i = 0; i < v.items().size(); ++i)
                    n.items.push_back(item(v.items()[i], i, depth));
                return t;
            }
            case kind::dict: {
                tree t = tree::dict();
                auto& n = *tree_access::handle(t);
                const auto cls = v.class_name();
                n.dict = cls == "collections.OrderedDict"   ? detail::dict_class::ordered_dict
                         : cls == "collections.Counter"     ? detail::dict_class::counter
                         : cls == "collections.defaultdict" ? detail::dict_class::defaultdict
                                                            : detail::dict_class::dict;
                fill(n, v, depth);
                return t;
            }
            case kind::tensor: return tree::tensor(v.as_tensor());
            case kind::object: {
                tree t = tree::global(std::string(v.module()), std::string(v.name()));
                auto& n = *tree_access::handle(t);
                n.origin = v.object_origin();
                if (auto it = where.find(n.module + "." + n.name); it != where.end()) n.source = it->second;
                if (n.origin != value::origin::global)
                    n.args = tree_access::handle(field(v.args(), "args", depth));
                for (std::size_t i = 0; i < v.items().size(); ++i)
                    n.items.push_back(item(v.items()[i], i, depth));
                fill(n, v, depth);
                return t;
            }
        }
        detail::invalid_tree("tree::from: a value of unknown kind");
    }

    // A dict's or an object's entries, then its BUILD state.
    void fill(detail::tree_node& n, const value& v, std::size_t depth) {
        for (const auto& [k, val] : v.entries())
            n.entries.emplace_back(entry(k, k, depth), entry(val, k, depth));
        if (!v.state().is_none()) n.state = tree_access::handle(field(v.state(), "state", depth));
    }
};

}  // namespace

tree tree::from(const value& v) {
    converter c;
    return c.convert(v, 0);
}

tree tree::from(const value& v, const checkpoint& origin) {
    converter c;
    for (const global_ref& g : origin.globals())
        c.where.try_emplace(g.qualified(), g.file + " " + g.record + " at offset " + std::to_string(g.offset));
    return c.convert(v, 0);
}

}  // namespace ptio
