// tensor_lister — what every walk that names tensors shares: the path
// of keys from the root, the containers on it, and one budget for the whole listing.
//
// A container shared under two keys is listed under both, as torch hands it out twice; one
// already on the current path (a cycle) is not entered again. Hostile sharing can make the
// paths exponential, so container visits and listed names (charged by their length) draw on
// one budget, and depth is capped. Names are views: a key the tree keeps is pointed at, any
// other is copied into the caller's text_pool once, and a path of two or more keys is joined
// there once per tensor listed. Used by the namer at open (tree paths) and by
// checkpoint::state_dict() (module and optimizer names).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/text_pool.hpp"
#include "ptio/checkpoint.hpp"

namespace ptio::detail {

struct node;

class tensor_lister {
public:
    /// `file` and `record` name the pickle in errors; `nodes` is the tree's node count. The
    /// names and paths listed are views of `texts` and of the texts pushed with push_kept().
    tensor_lister(std::vector<named_tensor>& out, text_pool& texts, std::string file,
                  std::string record, std::size_t nodes, std::size_t max_depth);

    /// Throws errc::limit_exceeded past the depth cap.
    void check_depth(std::size_t depth) const;
    /// Charges a visit; false when `n` is on the current path already (do not walk it).
    [[nodiscard]] bool enter(const node* n);
    /// Charges `cost` visits (work that is not a container visit, e.g. a lookup by scan).
    void charge(std::size_t cost);
    /// Lists `t` under the current path.
    void add(const tensor& t);

    /// A key made for this walk (an index, a key's repr): copied into the pool if a tensor
    /// is listed under it, once however many are.
    void push(std::string key) { path_.push_back({{}, std::move(key), false}); }
    /// A key whose text outlives the listing (a str key of the tree): no copy is made.
    void push_kept(std::string_view key) { path_.push_back({key, {}, true}); }
    void pop() { path_.pop_back(); }

    /// Marks a container entered with enter() as on the current path while it is walked.
    struct scope {
        tensor_lister& lister;
        const node* n;
        scope(tensor_lister& l, const node* entered) : lister(l), n(entered) {}
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;
        ~scope() { lister.on_path_.erase(n); }
    };

private:
    [[noreturn]] void over_budget(const std::string& what) const;

    struct part {
        std::string_view kept;  // the text, once `is_kept`
        std::string own;        // the text until then
        bool is_kept;
    };

    std::vector<named_tensor>& out_;
    text_pool& texts_;
    std::string file_;
    std::string record_;
    std::vector<part> path_;
    std::vector<std::string_view> scratch_;  // the path's views, for add()
    std::unordered_set<const node*> on_path_;
    std::size_t visits_ = 0;
    std::size_t budget_;
    std::size_t max_depth_;
};

/// A tensor listed under one non-empty key has that key as its name, and its path is left
/// empty: this points each such path at the entry's own name, a view of one. Call it once
/// `listed` holds its final entries (a vector that grows afterwards would leave the paths
/// pointing at its old buffer). An entry copied elsewhere keeps seeing the original's name.
void settle_single_paths(std::span<named_tensor> listed) noexcept;

}  // namespace ptio::detail
