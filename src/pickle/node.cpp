// The node arena's memory, the node-making helpers and Python's dict assignment.
#include "pickle/node.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <new>

namespace ptio::detail {

void arena::grow() {
    // Reserved first, so neither push_back can throw once the chunk is allocated.
    chunks_.reserve(chunks_.size() + 1);
    by_address_.reserve(chunks_.size() + 1);
    const std::size_t want = chunks_.empty() ? first_chunk_nodes : chunks_.back().capacity * 2;
    chunk c{};
    if (want * sizeof(node) < big_chunk_bytes) {
        void* p = std::malloc(want * sizeof(node));
        if (!p) throw std::bad_alloc();
        c = {static_cast<node*>(p), 0, want};
    } else {
        void* p = std::aligned_alloc(big_chunk_bytes, big_chunk_bytes);
        if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
        (void)::madvise(p, big_chunk_bytes, MADV_HUGEPAGE);  // a hint; without THP it does nothing
#endif
        c = {static_cast<node*>(p), 0, big_chunk_bytes / sizeof(node)};
    }
    chunks_.push_back(c);
    const auto at = std::upper_bound(by_address_.begin(), by_address_.end(), c.nodes,
                                     [this](const node* p, std::size_t i) {
                                         return std::less<const node*>{}(p, chunks_[i].nodes);
                                     });
    by_address_.insert(at, chunks_.size() - 1);
}

void arena::over_nodes() const {
    throw over_budget(errc::limit_exceeded, budget_.file, {}, std::nullopt,
                      "the unpickled tree passes the cap of " + std::to_string(budget_.max_nodes) +
                          " values (raise ptio::limits::max_nodes for a file you trust)");
}

void arena::over_bytes(std::uint64_t wanted) const {
    throw over_budget(errc::limit_exceeded, budget_.file, {}, std::nullopt,
                      "the unpickled tree needs more than its metadata cap of " + budget_.bytes_cap +
                          " (" + std::to_string(charged_) + " bytes used, " +
                          std::to_string(wanted) + " more asked for)");
}

arena::~arena() {
    for (auto& c : chunks_) {
        for (std::size_t i = 0; i < c.used; ++i) c.nodes[i].~node();
        std::free(c.nodes);
    }
}

bool arena::holds(const chunk& c, const node* n) noexcept {
    const std::less<const node*> before;
    return !before(n, c.nodes) && before(n, c.nodes + c.used);
}

// The arena hands out its own, writable pointer to the node: the value's pointer is only
// the key that finds it.
node& arena::mut(const value& v) {
    const node* n = value_access::node_of(v);
    if (n != nullptr && !chunks_.empty()) {
        // Changes come in creation order or close to it (the unpickler's are to nodes made
        // moments ago, the tensor walk's follow the pickle), so the last chunk found or the
        // newest one nearly always holds the node.
        if (holds(chunks_[hint_], n)) return chunks_[hint_].nodes[n - chunks_[hint_].nodes];
        hint_ = chunks_.size() - 1;
        if (!holds(chunks_[hint_], n)) {
            const auto after = std::upper_bound(by_address_.begin(), by_address_.end(), n,
                                                [this](const node* p, std::size_t i) {
                                                    return std::less<const node*>{}(p, chunks_[i].nodes);
                                                });
            if (after == by_address_.begin() || !holds(chunks_[*std::prev(after)], n)) std::abort();
            hint_ = *std::prev(after);
        }
        return chunks_[hint_].nodes[n - chunks_[hint_].nodes];
    }
    std::abort();  // not this arena's node: a bug in ptio, never a property of the file
}

}  // namespace ptio::detail

namespace ptio::detail::pickle {

// Text the caller made already is charged here: it is at most a few times the pickle bytes
// that spelled it (which the budget counts), so only copies made from the memo need a charge
// before they exist, and those come through make_object_node.
value make_string(arena& nodes, std::string text, kind k) {
    nodes.charge(text.size());
    auto& n = nodes.make(k);
    n.text = std::move(text);
    return value_access::make_node(k, &n);
}

value make_tuple(arena& nodes, std::vector<value> items) {
    nodes.charge(items.size(), sizeof(value));
    auto& n = nodes.make(kind::tuple);
    for (const auto& i : items) n.depth = std::max(n.depth, depth_through(i));
    n.items = std::move(items);
    return value_access::make_node(kind::tuple, &n);
}

node& make_object_node(arena& nodes, std::string_view module, std::string_view name,
                       value::origin origin, value args) {
    // Twice the text: the node keeps "module.name" and the name (STACK_GLOBAL of two
    // memoized strings makes them from a few bytes of pickle).
    nodes.charge(2 * (module.size() + name.size() + 1));
    auto& n = nodes.make(kind::object);
    n.text.reserve(module.size() + 1 + name.size());
    n.text.append(module).append(".").append(name);
    n.name = std::string(name);
    n.origin = origin;
    n.args = args;
    n.depth = depth_through(args);
    return n;
}

value make_object(arena& nodes, std::string_view module, std::string_view name,
                  value::origin origin, value args) {
    return value_access::make_node(kind::object, &make_object_node(nodes, module, name, origin, args));
}

namespace {
bool indexable(const value& k) {
    return k.is(kind::string) || k.is(kind::integer) || k.is(kind::big_integer);
}
}  // namespace

void set_item(node& n, const value& k, const value& v) {
    if (indexable(k)) {
        // Small dicts are searched; from 16 entries on, an index keeps SETITEMS linear.
        if (n.entries.size() >= 16 && !n.index) {
            n.index = std::make_unique<std::unordered_map<value, std::size_t, node::key_hash, node::key_equal>>();
            n.index->reserve(n.entries.size() * 2);
            for (std::size_t i = 0; i < n.entries.size(); ++i)
                if (indexable(n.entries[i].first)) n.index->emplace(n.entries[i].first, i);
        }
        if (n.index) {
            auto [it, fresh] = n.index->emplace(k, n.entries.size());
            if (!fresh) {
                n.entries[it->second].second = v;
                return;
            }
        } else {
            for (auto& e : n.entries)
                if (node::key_equal{}(e.first, k)) {
                    e.second = v;
                    return;
                }
        }
    }
    n.entries.emplace_back(k, v);
}

}  // namespace ptio::detail::pickle
