// The tree-path names of checkpoint::tensors(). Objects are walked through everything they
// hold (arguments, state, items, entries) so a tensor inside a pickled class stays listed.
#include "checkpoint/namer.hpp"

#include "pickle/node.hpp"
#include "torch/rebuild.hpp"

namespace ptio::detail {

void namer::walk_under(const std::vector<std::string>& path, value& slot) {
    for (const auto& part : path) list_.push(part);
    walk(slot, 0);
    for (std::size_t i = 0; i < path.size(); ++i) list_.pop();
}

void namer::walk(value& slot, std::size_t depth) {
    list_.check_depth(depth);
    switch (slot.type()) {
        case kind::tensor: list_.add(slot.as_tensor()); return;
        case kind::list: case kind::tuple: case kind::set: {
            if (!list_.enter(node_of(slot))) return;
            tensor_lister::scope guard{list_, node_of(slot)};
            walk_items(nodes_.mut(slot).items, depth);
            return;
        }
        case kind::dict: {
            if (!list_.enter(node_of(slot))) return;
            tensor_lister::scope guard{list_, node_of(slot)};
            walk_entries(nodes_.mut(slot).entries, depth);
            return;
        }
        case kind::object: {
            auto& n = nodes_.mut(slot);
            // a numpy array's elements, or the tensor an old torch.Tensor() call was built into
            if ((n.tag == known::numpy_array || n.tag == known::tensor_class) && n.state.is(kind::tensor)) {
                slot = n.state;
                list_.add(slot.as_tensor());
                return;
            }
            if (n.tag == known::storage_ref) {  // a storage saved on its own
                slot = rb_.storage_tensor(slot);
                list_.add(slot.as_tensor());
                return;
            }
            if (!list_.enter(node_of(slot))) return;
            tensor_lister::scope guard{list_, node_of(slot)};
            if (n.origin == value::origin::subclass && n.args.is(kind::tuple) && n.args.size() == 1 &&
                n.args.items()[0].is(kind::tensor)) {
                // a tensor subclass: the tensor where the instance is, its attributes below it,
                // those of __dict__ and of __slots__ alike ((dict, slots) is one namespace)
                list_.add(n.args.items()[0].as_tensor());
                if (n.state.is(kind::tuple) && n.state.size() == 2) {
                    walk(nodes_.mut(n.state).items[0], depth + 1);
                    walk(nodes_.mut(n.state).items[1], depth + 1);
                    return;
                }
            } else if (!n.args.is_none()) {
                list_.push("__args__");
                walk(n.args, depth + 1);
                list_.pop();
            }
            walk(n.state, depth + 1);
            walk_items(n.items, depth);
            walk_entries(n.entries, depth);
            return;
        }
        default: return;
    }
}

void namer::walk_items(std::span<value> items, std::size_t depth) {
    for (std::size_t i = 0; i < items.size(); ++i) {
        list_.push(std::to_string(i));
        walk(items[i], depth + 1);
        list_.pop();
    }
}

void namer::walk_entries(std::span<value::entry> entries, std::size_t depth) {
    for (auto& [k, v] : entries) {
        if (k.is(kind::string)) list_.push_kept(k.as_string());  // the tree keeps its text
        else list_.push(key_text(k));
        walk(v, depth + 1);
        list_.pop();
    }
}

}  // namespace ptio::detail
