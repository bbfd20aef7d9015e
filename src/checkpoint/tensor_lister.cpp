// The bookkeeping every tensor-naming walk shares: the path, the cycle guard and one budget,
// so a small hostile file cannot make a listing huge or deep.
#include "checkpoint/tensor_lister.hpp"

#include <algorithm>
#include <optional>

namespace ptio::detail {

tensor_lister::tensor_lister(std::vector<named_tensor>& out, text_pool& texts, std::string file,
                             std::string record, std::size_t nodes, std::size_t max_depth)
    : out_(out),
      texts_(texts),
      file_(std::move(file)),
      record_(std::move(record)),
      budget_(std::max<std::size_t>(std::size_t{1} << 16, 4 * nodes)),
      max_depth_(max_depth) {}

void tensor_lister::check_depth(std::size_t depth) const {
    if (depth > max_depth_)
        throw error(errc::limit_exceeded, file_, record_, std::nullopt,
                    "the object tree nests deeper than the cap of " + std::to_string(max_depth_));
}

void tensor_lister::over_budget(const std::string& what) const {
    throw error(errc::limit_exceeded, file_, record_, std::nullopt, what);
}

bool tensor_lister::enter(const node* n) {
    if (++visits_ > budget_)
        over_budget("shared containers expand to more than " + std::to_string(budget_) +
                    " container visits");
    return on_path_.insert(n).second;
}

void tensor_lister::charge(std::size_t cost) {
    visits_ += cost;
    if (visits_ > budget_)
        over_budget("naming the tensors takes more than the budget of " +
                    std::to_string(budget_) + " steps");
}

void tensor_lister::add(const tensor& t) {
    // Listing copies the path, so it is charged too: shared containers and long keys would
    // otherwise let a small file list millions of long names.
    std::size_t cost = 1 + path_.size();
    // A byte of name per 8 of cost keeps the names under a small multiple of the tree's own
    // memory (the budget is 4 visits per node).
    for (const auto& p : path_) cost += (p.is_kept ? p.kept.size() : p.own.size()) / 8;
    visits_ += cost;
    if (visits_ > budget_)
        over_budget("the tensor names (with shared containers expanded) pass the listing "
                    "budget of " + std::to_string(budget_));
    scratch_.clear();
    for (auto& p : path_) {
        if (!p.is_kept) {
            p.kept = texts_.keep(p.own);
            p.is_kept = true;
            std::string().swap(p.own);
        }
        scratch_.push_back(p.kept);
    }
    named_tensor nt;
    if (scratch_.size() == 1 && !scratch_[0].empty()) {
        // One key is its own name, and its path is that name (settle_single_paths): a flat
        // state_dict costs neither a joined copy nor a view.
        nt.name = scratch_[0];
    } else {
        nt.path = texts_.keep_views(scratch_);
        nt.name = texts_.keep_joined(nt.path, '.');
    }
    nt.tensor = &t;
    out_.push_back(nt);
}

void settle_single_paths(std::span<named_tensor> listed) noexcept {
    for (named_tensor& nt : listed)
        if (nt.path.empty() && !nt.name.empty()) nt.path = std::span<const std::string_view>(&nt.name, 1);
}

}  // namespace ptio::detail
