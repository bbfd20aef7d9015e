// tree::from: a loaded value rebuilt as a tree. A node the file shared (memoised in its
// pickle) maps to one tree node, so saving the result shares it again; tensors stay views of
// the open checkpoint.
#include <unordered_map>

#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"
#include "ptio/tree.hpp"
#include "save/tree_node.hpp"

namespace ptio {
namespace {

using detail::tree_access;

struct converter {
    std::unordered_map<const void*, tree> seen;
    std::unordered_map<std::string, std::string> where;  // "module.name" → its first place

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
                for (const auto& item : v.items()) n.items.push_back(convert(item, depth + 1));
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
                for (const auto& [k, val] : v.entries())
                    n.entries.emplace_back(convert(k, depth + 1), convert(val, depth + 1));
                if (!v.state().is_none()) n.state = tree_access::handle(convert(v.state(), depth + 1));
                return t;
            }
            case kind::tensor: return tree::tensor(v.as_tensor());
            case kind::object: {
                tree t = tree::global(std::string(v.module()), std::string(v.name()));
                auto& n = *tree_access::handle(t);
                n.origin = v.object_origin();
                if (auto it = where.find(n.module + "." + n.name); it != where.end()) n.source = it->second;
                if (n.origin != value::origin::global)
                    n.args = tree_access::handle(convert(v.args(), depth + 1));
                for (const auto& item : v.items()) n.items.push_back(convert(item, depth + 1));
                for (const auto& [k, val] : v.entries())
                    n.entries.emplace_back(convert(k, depth + 1), convert(val, depth + 1));
                if (!v.state().is_none()) n.state = tree_access::handle(convert(v.state(), depth + 1));
                return t;
            }
        }
        detail::invalid_tree("tree::from: a value of unknown kind");
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
