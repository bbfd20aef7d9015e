// The node arena's memory, its compaction, the node-making helpers and Python's dict
// assignment.
#include "pickle/node.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>
#include <utility>

#include "core/flat_index.hpp"
#include "core/page_array.hpp"

namespace ptio::detail {

// ---- the pool ----

namespace {
constexpr std::size_t first_chunk_bytes = std::size_t{16} << 10;
constexpr std::size_t big_chunk_bytes = std::size_t{2} << 20;
// Smaller chunks are malloc'd: a small checkpoint opened again and again (a dataset's items)
// then reuses what the last one freed instead of faulting in fresh pages.
constexpr std::size_t map_from_bytes = big_chunk_bytes;
constexpr std::size_t page_bytes = 4096;
}  // namespace

arena::pool::pool(pool&& o) noexcept
    : chunks_(std::move(o.chunks_)), next_(o.next_), end_(o.end_), last_(o.last_), hint_(0) {
    o.chunks_.clear();
    o.next_ = o.end_ = nullptr;
    o.last_ = 0;
}

arena::pool& arena::pool::operator=(pool&& o) noexcept {
    if (this != &o) {
        for (const auto& c : chunks_) release(c);
        chunks_ = std::move(o.chunks_);
        next_ = o.next_;
        end_ = o.end_;
        last_ = o.last_;
        hint_ = 0;
        o.chunks_.clear();
        o.next_ = o.end_ = nullptr;
        o.last_ = 0;
    }
    return *this;
}

arena::pool::~pool() {
    for (const auto& c : chunks_) release(c);
}

// Shared chunks an arena frees are kept, up to cached_bytes in all, for the next arena: a
// process that opens small checkpoints one after another (a dataset's items) would otherwise
// fault in fresh pages for every one. Thread-safe; a few MiB at most stay after the last
// checkpoint closes.
namespace {
constexpr std::size_t cached_bytes = std::size_t{4} << 20;
struct chunk_cache {
    std::mutex lock;
    std::vector<std::pair<std::byte*, std::size_t>> chunks;  // malloc'd, by size
    std::size_t bytes = 0;
};
chunk_cache& cache() {
    static auto* c = new chunk_cache;  // never destroyed: arenas may die during exit
    return *c;
}
}  // namespace

void arena::pool::release(const chunk& c) noexcept {
    if (c.mapped) {
        ::munmap(c.start, c.bytes);
        return;
    }
    if (!c.own) {
        auto& k = cache();
        std::lock_guard<std::mutex> hold(k.lock);
        if (k.bytes + c.bytes <= cached_bytes && k.chunks.size() < k.chunks.capacity()) {
            k.chunks.emplace_back(c.start, c.bytes);
            k.bytes += c.bytes;
            return;
        }
    }
    std::free(c.start);
}

// Mapped chunks are given back to the system when freed (malloc keeps what it frees for
// reuse, so a tree compacted after open would keep its dead memory resident).
arena::pool::chunk arena::pool::map_chunk(std::size_t bytes, bool huge) {
    bytes = (bytes + page_bytes - 1) & ~(page_bytes - 1);
    if (bytes < map_from_bytes) {
        {
            auto& k = cache();
            std::lock_guard<std::mutex> hold(k.lock);
            if (k.chunks.capacity() == 0) k.chunks.reserve(64);
            for (std::size_t i = 0; i < k.chunks.size(); ++i)
                if (k.chunks[i].second == bytes) {
                    std::byte* p = k.chunks[i].first;
                    k.chunks[i] = k.chunks.back();
                    k.chunks.pop_back();
                    k.bytes -= bytes;
                    return {p, bytes, false, false};
                }
        }
        void* p = std::malloc(bytes);
        if (!p) throw std::bad_alloc();
        return {static_cast<std::byte*>(p), bytes, false, false};
    }
    if (!huge) {
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        return {static_cast<std::byte*>(p), bytes, true, false};
    }
    // Twice the size, then the unaligned ends unmapped: a 2 MiB-aligned 2 MiB chunk.
    void* p = ::mmap(nullptr, 2 * bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    auto* raw = static_cast<std::byte*>(p);
    const auto addr = reinterpret_cast<std::uintptr_t>(raw);
    const std::size_t head = (bytes - addr % bytes) % bytes;
    if (head) ::munmap(raw, head);
    if (bytes - head) ::munmap(raw + head + bytes, bytes - head);
#ifdef MADV_HUGEPAGE
    (void)::madvise(raw + head, bytes, MADV_HUGEPAGE);  // a hint; without THP it does nothing
#endif
    return {raw + head, bytes, true, false};
}

void* arena::pool::take_slow(std::size_t bytes) {
    chunks_.reserve(chunks_.size() + 1);  // so the insert below cannot throw
    chunk c{};
    const std::size_t want = last_ == 0 ? first_chunk_bytes : std::min(2 * last_, big_chunk_bytes);
    if (bytes > want / 4) {
        c = map_chunk(bytes, false);  // mapped from big_chunk_bytes on
        c.own = true;
    } else {
        c = map_chunk(want, want == big_chunk_bytes);
        last_ = c.bytes;
        next_ = c.start + bytes;
        end_ = c.start + c.bytes;
    }
    const auto at = std::upper_bound(chunks_.begin(), chunks_.end(), c.start,
                                     [](const std::byte* p, const chunk& k) { return std::less<const std::byte*>{}(p, k.start); });
    chunks_.insert(at, c);
    return c.start;
}

void arena::pool::release_tail() noexcept {
    if (next_ == nullptr || chunks_.empty()) return;
    const auto at = reinterpret_cast<std::uintptr_t>(next_);
    const auto from = (at + page_bytes - 1) & ~(page_bytes - 1);
    const auto to = reinterpret_cast<std::uintptr_t>(end_);
    if (from >= to) return;
    for (const chunk& c : chunks_)
        if (c.start <= next_ && next_ <= c.start + c.bytes) {
            if (c.mapped) (void)::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
            return;
        }
}

bool arena::pool::holds(const void* p) const noexcept {
    const auto* b = static_cast<const std::byte*>(p);
    const std::less<const std::byte*> before;
    auto inside = [&](const chunk& c) { return !before(b, c.start) && before(b, c.start + c.bytes); };
    if (hint_ < chunks_.size() && inside(chunks_[hint_])) return true;
    const auto after = std::upper_bound(chunks_.begin(), chunks_.end(), b,
                                        [&](const std::byte* q, const chunk& k) { return before(q, k.start); });
    if (after == chunks_.begin() || !inside(*std::prev(after))) return false;
    hint_ = static_cast<std::size_t>(std::prev(after) - chunks_.begin());
    return true;
}

void arena::pool::give_back(void* p) noexcept {
    const auto* b = static_cast<const std::byte*>(p);
    const auto at = std::lower_bound(chunks_.begin(), chunks_.end(), b,
                                     [](const chunk& k, const std::byte* q) { return std::less<const std::byte*>{}(k.start, q); });
    if (at == chunks_.end() || at->start != b || !at->own) return;
    release(*at);
    chunks_.erase(at);
    hint_ = 0;
}

// ---- the arena ----

arena::~arena() = default;

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

node_text arena::keep(std::string_view text) {
    if (text.empty()) return {};
    constexpr std::size_t block = std::size_t{16} << 10;
    if (text.size() > text_left_) {
        const std::size_t want = std::max(block, text.size());
        texts_.reserve(texts_.size() + 1);
        text_ranges_.reserve(text_ranges_.size() + 1);
        texts_.push_back(std::make_unique_for_overwrite<char[]>(want));
        const char* start = texts_.back().get();
        text_ranges_.insert(std::upper_bound(text_ranges_.begin(), text_ranges_.end(), start,
                                             [](const char* p, const std::pair<const char*, std::size_t>& r) {
                                                 return std::less<const char*>{}(p, r.first);
                                             }),
                            {start, want});
        if (want == block) {
            text_next_ = texts_.back().get();
            text_left_ = want;
        } else {  // a long text alone; the current block stays in use
            std::memcpy(texts_.back().get(), text.data(), text.size());
            return node_text::kept(std::string_view(texts_.back().get(), text.size()));
        }
    }
    char* p = text_next_;
    std::memcpy(p, text.data(), text.size());
    text_next_ += text.size();
    text_left_ -= text.size();
    return node_text::kept(std::string_view(p, text.size()));
}

bool arena::keeps(const char* p) const noexcept {
    const std::less<const char*> before;
    const auto after = std::upper_bound(text_ranges_.begin(), text_ranges_.end(), p,
                                        [&](const char* q, const std::pair<const char*, std::size_t>& r) {
                                            return before(q, r.first);
                                        });
    if (after == text_ranges_.begin()) return false;
    const auto& r = *std::prev(after);
    return before(p, r.first + r.second);
}

// The arena hands out its own, writable pointer to the node: the value's pointer is only
// the key that finds it.
node& arena::mut(const value& v) {
    const node* n = value_access::node_of(v);
    if (n == nullptr || !nodes_.holds(n)) std::abort();  // a bug in ptio, never the file's
    return *const_cast<node*>(n);
}

arena::dict_index* arena::index_of(const node& dict, bool make) {
    if (&dict == last_indexed_) return last_index_;  // SETITEMS asks for one dict many times
    if (!indexes_) {
        if (!make) return nullptr;
        indexes_ = std::make_unique<std::unordered_map<const node*, std::unique_ptr<dict_index>>>();
    }
    if (auto it = indexes_->find(&dict); it != indexes_->end()) {
        last_indexed_ = &dict;
        return last_index_ = it->second.get();
    }
    if (!make) return nullptr;
    last_index_ = indexes_->emplace(&dict, std::make_unique<dict_index>()).first->second.get();
    last_indexed_ = &dict;
    return last_index_;
}

// Cheney's copy: each reached node is copied once (the old one keeps a forward pointer in
// its text, which every kind has), then the copies' arrays are copied exactly sized with
// their values forwarded.
// A worklist, not recursion: hostile trees nest deep.
void arena::compact(std::span<value* const> roots) {
    pool fresh;
    // Sized by the node count, which bounds the nodes reached; a mapping of its own past
    // 64 KiB (core/page_array), so freeing it leaves no hole in the heap.
    page_array<node*> work(std::max<std::size_t>(size_, 16));
    std::size_t queued = 0;
    auto enqueue = [&](node* n) {
        if (queued == work.size()) {  // not expected: the count bounds the reach
            page_array<node*> bigger(2 * work.size());
            std::copy(work.begin(), work.end(), bigger.begin());
            work = std::move(bigger);
        }
        work[queued++] = n;
    };
    auto forward = [&](const value& v) -> value {
        const node* old = value_access::node_of(v);
        if (old == nullptr) return v;
        if (old->forwarded) return value_access::make_node(v.type(), reinterpret_cast<const node*>(old->text.data()));
        const std::size_t bytes = node_bytes(old->type);
        auto* copy = static_cast<node*>(fresh.take(bytes));
        std::memcpy(static_cast<void*>(copy), old, bytes);
        auto* o = const_cast<node*>(old);
        o->forwarded = true;
        o->text = node_text::kept(std::string_view(reinterpret_cast<const char*>(copy), 0));
        enqueue(copy);
        return value_access::make_node(v.type(), copy);
    };
    auto copy_slots = [&](auto& s) {
        using T = std::remove_reference_t<decltype(*s.p_)>;
        if (s.n_ == 0) {
            s = {};
            return;
        }
        T* p = static_cast<T*>(fresh.take(s.n_ * sizeof(T)));
        std::uninitialized_copy(s.p_, s.p_ + s.n_, p);
        s.p_ = p;
        s.cap_ = s.n_;
    };
    for (value* r : roots) *r = forward(*r);
    for (std::size_t i = 0; i < queued; ++i) {
        node* n = work[i];
        if (node_bytes(n->type) <= offsetof(node, items)) continue;
        copy_slots(n->items);
        for (auto& item : n->items) item = forward(item);
        if (node_bytes(n->type) <= offsetof(node, entries)) continue;
        copy_slots(n->entries);
        for (auto& [k, v] : n->entries) {
            k = forward(k);
            v = forward(v);
        }
        n->args = forward(n->args);
        n->state = forward(n->state);
    }
    fresh.release_tail();  // the tree is built: a half-used last huge page need not stay
    nodes_ = std::move(fresh);
    indexes_.reset();
    last_indexed_ = nullptr;
    last_index_ = nullptr;
    size_ = queued;
}

}  // namespace ptio::detail

namespace ptio::detail::pickle {

// Text the caller made already is charged here: it is at most a few times the pickle bytes
// that spelled it (which the budget counts), so only copies made from the memo need a charge
// before they exist, and those come through make_object_node.
value make_string(arena& nodes, std::string text, kind k) {
    nodes.charge(text.size());
    auto& n = nodes.make(k);
    n.text = nodes.keep(text);
    return value_access::make_node(k, &n);
}

value make_string_view(arena& nodes, std::string_view pickle_text, kind k) {
    if (!nodes.views_pickle()) nodes.charge(pickle_text.size());
    auto& n = nodes.make(k);
    n.text = nodes.views_pickle() ? node_text::kept(pickle_text) : nodes.keep(pickle_text);
    return value_access::make_node(k, &n);
}

value make_tuple(arena& nodes, std::vector<value> items) {
    nodes.charge(items.size(), sizeof(value));
    auto& n = nodes.make(kind::tuple);
    for (const auto& i : items) n.depth = std::max(n.depth, depth_through(i));
    nodes.assign(n.items, std::span<const value>(items));
    return value_access::make_node(kind::tuple, &n);
}

node& make_object_node(arena& nodes, std::string_view module, std::string_view name,
                       value::origin origin, value args) {
    // The node keeps "module.name" and views the name in it. An object made from a global
    // (REDUCE, NEWOBJ) passes that global's module and name, which are already one kept
    // text: viewed, not copied.
    auto& n = nodes.make(kind::object);
    const bool joined = !module.empty() && module.data() + module.size() + 1 == name.data() &&
                        module.data()[module.size()] == '.';
    if (joined && nodes.keeps(module.data())) {
        n.text = node_text::kept(std::string_view(module.data(), module.size() + 1 + name.size()));
    } else {
        nodes.charge(module.size() + name.size() + 1);
        std::string joined_text;
        joined_text.reserve(module.size() + 1 + name.size());
        joined_text.append(module).append(".").append(name);
        n.text = nodes.keep(joined_text);
    }
    n.name = node_text::kept(n.text.view().substr(module.size() + 1));
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
std::uint64_t key_hash(const value& k) noexcept {
    if (k.is(kind::integer)) return hash_int(static_cast<std::uint64_t>(k.as_int()));
    return hash_text(value_access::node_of(k)->text) ^ static_cast<std::uint64_t>(k.type());
}
bool key_equal(const value& a, const value& b) noexcept {
    if (a.type() != b.type()) return false;
    if (a.is(kind::integer)) return a.as_int() == b.as_int();
    return value_access::node_of(a)->text.view() == value_access::node_of(b)->text.view();
}

}  // namespace

void set_item(arena& nodes, node& n, const value& k, const value& v) {
    if (indexable(k)) {
        // Small dicts are searched; from 16 entries on, an index keeps SETITEMS linear. The
        // index lives while the tree is built (a repeated key must replace in place, as
        // Python's dict does) and goes with compact().
        auto* index = n.entries.size() >= 16 ? nodes.index_of(n, true) : nullptr;
        if (index) {
            if (!index->built) {
                index->built = true;
                index->keys.reserve(2 * n.entries.size());
                for (std::size_t i = 0; i < n.entries.size(); ++i) {
                    const value& key = n.entries[i].first;
                    if (indexable(key))
                        (void)index->keys.insert(key_hash(key), static_cast<std::uint32_t>(i),
                                                 [&](std::uint32_t p) { return key_equal(n.entries[p].first, key); });
                }
            }
            const auto there = index->keys.insert(
                key_hash(k), static_cast<std::uint32_t>(n.entries.size()),
                [&](std::uint32_t p) { return key_equal(n.entries[p].first, k); });
            if (there) {
                n.entries[*there].second = v;
                return;
            }
        } else {
            for (auto& e : n.entries)
                if (key_equal(e.first, k)) {
                    e.second = v;
                    return;
                }
        }
    }
    nodes.push(n.entries, value::entry(k, v));
}

}  // namespace ptio::detail::pickle
