// tools/ptio/repr.cpp — Python's repr of the object tree, wrapped at a width.
//
// Every container (and every object with parts) is a `group` (repr_group.hpp): an opening
// text, elements and a closing text. A group is first tried on one line into a scratch
// buffer, giving up as soon as the line is too long, so a subtree of any size costs at most
// a line's worth of work per try; when it does not fit it is written one element per line.
#include "repr.hpp"

#include <string_view>

#include "ptio/dtype.hpp"
#include "pyformat.hpp"
#include "repr_group.hpp"
#include "walk.hpp"

namespace ptio_cli {

namespace {

using ptio::value;
using repr_detail::append_leaf;
using repr_detail::element;
using repr_detail::group;
using repr_detail::is_group;
using repr_detail::leaf_size;
using repr_detail::make_group;
using repr_detail::sub_group;
using skip = walk_state::skip;

class printer {
public:
    printer(std::string& out, std::size_t width) : out_(out), width_(width) {}

    void print(const value& v) { block_value(v, 0, 0); }

private:
    static constexpr std::size_t min_budget = 30;

    // Columns left on the current line (at least min_budget).
    [[nodiscard]] std::size_t budget() const {
        const std::size_t newline = out_.rfind('\n');
        const std::size_t column =
            newline == std::string::npos ? out_.size() : out_.size() - newline - 1;
        return column + min_budget < width_ ? width_ - column : min_budget;
    }

    template <class Render>
    bool try_flat(Render render) {
        const std::size_t limit = budget();
        trial_.clear();
        walk_.begin_trial();
        if (render(limit)) {
            walk_.keep_trial();
            out_ += trial_;
            return true;
        }
        walk_.drop_trial();
        return false;
    }

    // One-line forms into trial_; each returns false once trial_ passes `limit`.
    bool flat_value(const value& v, std::size_t limit, std::size_t depth) {
        ++walk_.printed;
        if (is_group(v)) return flat_group(make_group(v), limit, depth);
        if (trial_.size() + leaf_size(v) + 2 > limit) return false;
        if (walk_.check(v.identity(), depth) == skip::shared) {
            trial_ += "...";
        } else {
            append_leaf(trial_, v);
            walk_.done(v.identity(), leaf_size(v));
        }
        return trial_.size() <= limit;
    }

    bool flat_group(const group& g, std::size_t limit, std::size_t depth) {
        if (const skip why = walk_.check(g.node, depth); why != skip::none) {
            trial_ += why == skip::too_deep ? std::string_view("...") : g.ellipsis;
            return trial_.size() <= limit;
        }
        if (g.count == 0) {
            trial_ += g.empty;
            return trial_.size() <= limit;
        }
        const std::size_t before = walk_.printed;
        {
            const walk_state::enter on_path(walk_, g.node);
            trial_ += g.open;
            for (std::size_t i = 0; i < g.count; ++i) {
                if (i != 0) trial_ += ", ";
                if (!flat_element(g.at(i), limit, depth + 1)) return false;
            }
            if (g.one_comma && g.count == 1) trial_ += ',';
            trial_ += g.close;
        }
        walk_.done(g.node, walk_.printed - before);
        return trial_.size() <= limit;
    }

    bool flat_element(const element& e, std::size_t limit, std::size_t depth) {
        trial_ += e.label;
        switch (e.shape) {
            case element::form::plain:
                return flat_value(*e.val, limit, depth);
            case element::form::keyed:
                if (!flat_value(*e.key, limit, depth)) return false;
                trial_ += ": ";
                return flat_value(*e.val, limit, depth);
            default:
                return flat_group(sub_group(e), limit, depth);
        }
    }

    // Several-line forms straight into out_.
    void newline(std::size_t indent) {
        out_ += '\n';
        out_.append(2 * indent, ' ');
    }

    void block_value(const value& v, std::size_t indent, std::size_t depth) {
        if (try_flat([&](std::size_t limit) { return flat_value(v, limit, depth); })) return;
        ++walk_.printed;
        if (is_group(v)) return block_group(make_group(v), indent, depth);
        if (walk_.check(v.identity(), depth) == skip::shared) {
            out_ += "...";
            return;
        }
        append_leaf(out_, v);
        walk_.done(v.identity(), leaf_size(v));
    }

    void block_group(const group& g, std::size_t indent, std::size_t depth) {
        if (const skip why = walk_.check(g.node, depth); why != skip::none) {
            out_ += why == skip::too_deep ? std::string_view("...") : g.ellipsis;
            return;
        }
        if (g.count == 0) {
            out_ += g.empty;
            return;
        }
        const std::size_t before = walk_.printed;
        {
            const walk_state::enter on_path(walk_, g.node);
            out_ += g.open;
            for (std::size_t i = 0; i < g.count; ++i) {
                newline(indent + 1);
                block_element(g.at(i), indent + 1, depth + 1);
                out_ += ',';
            }
            newline(indent);
            out_ += g.close;
        }
        walk_.done(g.node, walk_.printed - before);
    }

    void block_element(const element& e, std::size_t indent, std::size_t depth) {
        out_ += e.label;
        switch (e.shape) {
            case element::form::plain:
                return block_value(*e.val, indent, depth);
            case element::form::keyed:
                block_value(*e.key, indent, depth);
                out_ += ": ";
                return block_value(*e.val, indent, depth);
            case element::form::pair: {  // hanging: ('key', OrderedDict([ … ]))
                if (try_flat(
                        [&](std::size_t limit) { return flat_group(sub_group(e), limit, depth); }))
                    return;
                out_ += '(';
                block_value(*e.key, indent, depth + 1);
                out_ += ", ";
                block_value(*e.val, indent, depth + 1);
                out_ += ')';
                return;
            }
            default: {
                const group g = sub_group(e);
                if (!try_flat([&](std::size_t limit) { return flat_group(g, limit, depth); }))
                    block_group(g, indent, depth);
            }
        }
    }

    std::string& out_;
    std::size_t width_;
    std::string trial_;
    walk_state walk_;
};

}  // namespace

void append_tensor_summary(std::string& out, const ptio::tensor& t) {
    out += t.is_parameter() ? "Parameter(" : t.is_storage() ? "storage(" : "tensor(";
    out += ptio::name(t.dtype());
    out += ", ";
    if (t.is_storage())  // a storage has a size in elements, not a shape
        out += std::to_string(t.view().numel());
    else
        append_shape(out, t.shape());
    if (!t.location().empty() && t.location() != "cpu") {
        out += ", device=";
        append_str_repr(out, t.location());
    }
    if (t.requires_grad()) out += ", requires_grad=True";
    out += ')';
}

void append_repr(std::string& out, const ptio::value& root, std::size_t width) {
    printer(out, width).print(root);
    out += '\n';
}

}  // namespace ptio_cli
