// Names as torch's state_dict() would give them, from the pickled objects themselves (no class
// is ever called, so the rules read the objects' __dict__):
//
// - nn.Module (a dict state holding _parameters, _buffers and _modules): Module.state_dict's
//   order — non-None parameters, then non-None buffers not in _non_persistent_buffers_set, then
//   each non-None child under "name." — so a submodule shared under two names is listed under
//   both, as torch does.
// - torch.optim.Optimizer (a dict state holding state and param_groups): Optimizer.state_dict
//   keys `state` by each parameter's position in the concatenated param_groups' params lists,
//   and replaces those lists by the positions (so they hold no tensors).
// - Any other object with a dict state (plain classes, TorchScript objects): its attributes as
//   dict entries. The rest, and dicts, lists and tuples, are named as tensors() names them.
#include "checkpoint/state_dict.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "pickle/value_access.hpp"
#include "ptio/tensor.hpp"
#include "torch/storage.hpp"

namespace ptio::detail {

namespace {

bool is_dict(const value* v) { return v != nullptr && v->is(kind::dict); }
bool is_sequence(const value* v) {
    return v != nullptr && (v->is(kind::list) || v->is(kind::tuple));
}

// Same data seen through two tensor objects: torch matches optimizer state to parameters by
// object identity; a file whose memo was not kept (another writer) still has equal views.
bool same_view(const tensor& a, const tensor& b) {
    const auto& x = a.view();
    const auto& y = b.view();
    return storage_of(x) != nullptr && storage_of(x) == storage_of(y) && x.dtype() == y.dtype() &&
           x.storage_offset() == y.storage_offset() && std::ranges::equal(x.shape(), y.shape()) &&
           std::ranges::equal(x.strides(), y.strides());
}

class state_namer {
public:
    explicit state_namer(tensor_lister& list) : list_(list) {}

    void walk(const value& v, std::size_t depth) {
        list_.check_depth(depth);
        switch (v.type()) {
            case kind::tensor: list_.add(v.as_tensor()); return;
            case kind::list: case kind::tuple: case kind::set: case kind::dict: {
                if (!list_.enter(node_of(v))) return;
                tensor_lister::scope guard{list_, node_of(v)};
                if (v.is(kind::dict))
                    walk_entries(v.entries(), depth);
                else
                    walk_items(v.items(), depth);
                return;
            }
            case kind::object: {
                if (!list_.enter(node_of(v))) return;
                tensor_lister::scope guard{list_, node_of(v)};
                walk_object(v, depth);
                return;
            }
            default: return;
        }
    }

private:
    void walk_object(const value& v, std::size_t depth) {
        const value state = v.state();
        const value args = v.args();
        if (state.is(kind::dict)) {
            const value* params = state.get("_parameters");
            const value* buffers = state.get("_buffers");
            const value* modules = state.get("_modules");
            const value* opt_state = state.get("state");
            const value* groups = state.get("param_groups");
            if (is_dict(params) && is_dict(buffers) && is_dict(modules))
                return walk_module(*params, *buffers, state.get("_non_persistent_buffers_set"),
                                   *modules, depth);
            if (is_dict(opt_state) && is_sequence(groups))
                return walk_optimizer(*opt_state, *groups, depth);
            walk_entries(state.entries(), depth);
        } else if (const auto slots = slot_state(state); !slots.empty()) {
            for (const value& part : slots) walk_entries(part.entries(), depth);
        } else {
            // Not a dict: named as tensors() names it, its arguments included.
            if (!args.is_none()) walk_under("__args__", args, depth);
            walk(state, depth + 1);
            walk_items(v.items(), depth);
            walk_entries(v.entries(), depth);
            return;
        }
        // A dict-like state names the attributes; arguments (NEWOBJ's, usually ()) are listed
        // only when they hold something, and after them, so no tensor goes unlisted.
        if (args.is(kind::tuple) && args.size() != 0) walk_under("__args__", args, depth);
        walk_items(v.items(), depth);
        walk_entries(v.entries(), depth);
    }

    // Python's default state for a class with __slots__: (__dict__ or None, {slot: value}).
    static std::vector<value> slot_state(const value& state) {
        if (!state.is(kind::tuple) || state.size() != 2) return {};
        const auto parts = state.items();
        if (!(parts[0].is_none() || parts[0].is(kind::dict)) || !parts[1].is(kind::dict)) return {};
        if (parts[0].is_none()) return {parts[1]};
        return {parts[0], parts[1]};
    }

    void walk_module(const value& params, const value& buffers, const value* non_persistent,
                     const value& modules, std::size_t depth) {
        for (const auto& [key, param] : params.entries())
            if (!param.is_none()) walk_under(key_text(key), param, depth);
        for (const auto& [key, buffer] : buffers.entries()) {
            if (buffer.is_none()) continue;
            std::string name = key_text(key);
            if (non_persistent != nullptr &&
                (non_persistent->is(kind::set) || is_sequence(non_persistent))) {
                const auto skipped = non_persistent->items();
                list_.charge(skipped.size());
                if (std::ranges::any_of(skipped,
                                        [&](const value& s) { return key_text(s) == name; }))
                    continue;
            }
            walk_under(std::move(name), buffer, depth);
        }
        for (const auto& [key, child] : modules.entries())
            if (!child.is_none()) walk_under(key_text(key), child, depth);
    }

    void walk_optimizer(const value& state, const value& groups, std::size_t depth) {
        // Positions as Optimizer.state_dict gives them: counted across the groups' params
        // lists, a parameter listed twice keeping its first.
        std::vector<const tensor*> params;
        std::unordered_map<const tensor*, std::size_t> position;
        for (const value& group : groups.items()) {
            const value* list = group.is(kind::dict) ? group.get("params") : nullptr;
            if (!is_sequence(list)) continue;
            for (const value& p : list->items()) {
                const tensor* t = p.is(kind::tensor) ? &p.as_tensor() : nullptr;
                if (t != nullptr) position.try_emplace(t, params.size());
                params.push_back(t);
            }
        }
        auto key_of = [&](const value& key) {
            if (!key.is(kind::tensor)) return key_text(key);
            const tensor& t = key.as_tensor();
            if (auto it = position.find(&t); it != position.end())
                return std::to_string(it->second);
            list_.charge(params.size());
            for (std::size_t i = 0; i < params.size(); ++i)
                if (params[i] != nullptr && same_view(*params[i], t)) return std::to_string(i);
            return key_text(key);  // no such parameter: torch's state_dict() would fail here
        };

        list_.push("state");
        for (const auto& [key, per_param] : state.entries())
            walk_under(key_of(key), per_param, depth + 1);
        list_.pop();
        list_.push("param_groups");
        const auto all = groups.items();
        for (std::size_t g = 0; g < all.size(); ++g) {
            list_.push(std::to_string(g));
            if (all[g].is(kind::dict)) {
                for (const auto& [key, setting] : all[g].entries())
                    if (!(key.is(kind::string) && key.as_string() == "params"))
                        walk_under(key_text(key), setting, depth + 2);
            } else {
                walk(all[g], depth + 2);
            }
            list_.pop();
        }
        list_.pop();
    }

    void walk_under(std::string key, const value& v, std::size_t depth) {
        list_.push(std::move(key));
        walk(v, depth + 1);
        list_.pop();
    }
    void walk_items(std::span<const value> items, std::size_t depth) {
        for (std::size_t i = 0; i < items.size(); ++i)
            walk_under(std::to_string(i), items[i], depth);
    }
    void walk_entries(std::span<const value::entry> entries, std::size_t depth) {
        for (const auto& [k, v] : entries) walk_under(key_text(k), v, depth);
    }

    tensor_lister& list_;
};

}  // namespace

void list_state_dict(const value& root, tensor_lister& lister) {
    state_namer(lister).walk(root, 0);
}

}  // namespace ptio::detail
