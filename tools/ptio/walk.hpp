// tools/ptio/walk.hpp — what a printer of the object tree must guard against.
//
// The tree may share nodes (the pickle memo) and, in a hostile file, contain cycles or be
// nested deeper than any stack. A printer asks `check` before entering a node:
// - a node on the current path is a cycle (Python prints "[...]");
// - a node deeper than max_depth is not entered;
// - a node printed before whose output was large (over `shared_limit` nodes, or a string
//   of as many bytes) is not printed again, so a file of a few kilobytes that shares one
//   list at every level (2^n paths) cannot make the output explode.
// Small shared nodes print in full every time, as Python prints them.
#pragma once

#include <cstddef>
#include <unordered_set>

namespace ptio_cli {

class walk_state {
public:
    static constexpr std::size_t max_depth = 500;
    static constexpr std::size_t shared_limit = 1000;

    enum class skip { none, too_deep, cycle, shared };

    [[nodiscard]] skip check(const void* node, std::size_t depth) const {
        if (depth >= max_depth) return skip::too_deep;
        if (node == nullptr) return skip::none;
        if (path_.contains(node)) return skip::cycle;
        if (large_.contains(node) || tentative_.contains(node)) return skip::shared;
        return skip::none;
    }

    /// Holds a container node on the current path while its children print.
    class enter {
    public:
        enter(walk_state& state, const void* node) : state_(state), node_(node) {
            if (node_ != nullptr) state_.path_.insert(node_);
        }
        ~enter() {
            if (node_ != nullptr) state_.path_.erase(node_);
        }
        enter(const enter&) = delete;
        enter& operator=(const enter&) = delete;

    private:
        walk_state& state_;
        const void* node_;
    };

    /// Nodes printed so far (the caller counts one per node it prints).
    std::size_t printed = 0;

    /// After printing `node` in full: remember it if its output was large. `size` is its
    /// node count (printed - printed before it) or a leaf's byte length.
    void done(const void* node, std::size_t size) {
        if (node != nullptr && size > shared_limit) (trial_ ? tentative_ : large_).insert(node);
    }

    /// A printer that writes into a scratch buffer it may throw away (repr.cpp's one-line
    /// tries) brackets that work with these: nodes it prints count as printed only if the
    /// scratch text is kept.
    void begin_trial() {
        trial_ = true;
        trial_printed_ = printed;
    }
    void keep_trial() {
        large_.merge(tentative_);
        end_trial();
    }
    void drop_trial() {
        printed = trial_printed_;
        end_trial();
    }

private:
    void end_trial() {
        tentative_.clear();
        trial_ = false;
    }

    std::unordered_set<const void*> path_;
    std::unordered_set<const void*> large_;
    std::unordered_set<const void*> tentative_;  // large nodes printed by the current trial
    bool trial_ = false;
    std::size_t trial_printed_ = 0;
};

}  // namespace ptio_cli
