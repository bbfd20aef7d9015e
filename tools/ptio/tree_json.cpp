// tools/ptio/tree_json.cpp
#include "tree_json.hpp"

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "ptio/dtype.hpp"
#include "ptio/tensor.hpp"
#include "pyformat.hpp"
#include "text.hpp"
#include "walk.hpp"

namespace ptio_cli {

namespace {

using ptio::kind;
using ptio::value;

std::string_view origin_name(value::origin o) {
    switch (o) {
        case value::origin::global:
            return "global";
        case value::origin::call:
            return "call";
        case value::origin::instance:
            return "instance";
    }
    return "?";
}

// Nodes with children are streamed, a member a line; the others are built whole and so
// follow json_writer's layout (one line each).
bool has_children(const value& v) {
    switch (v.type()) {
        case kind::list:
        case kind::tuple:
        case kind::set:
            return !v.items().empty();
        case kind::dict:
            return !v.entries().empty() || !v.state().is_none();
        case kind::object:
            return !v.args().is_none() || !v.state().is_none() || !v.items().empty() ||
                   !v.entries().empty();
        default:
            return false;
    }
}

std::string_view elided_reason(walk_state::skip why) {
    switch (why) {
        case walk_state::skip::too_deep:
            return "depth";
        case walk_state::skip::cycle:
            return "cycle";
        default:
            return "shared";
    }
}

std::string_view container_kind(const value& v) {
    return v.is(kind::list) ? "list" : v.is(kind::tuple) ? "tuple" : "set";
}

// A node without children, whole.
json leaf(const value& v) {
    json j = json::object();
    switch (v.type()) {
        case kind::none:
            j["kind"] = "none";
            break;
        case kind::boolean:
            j["kind"] = "bool";
            j["value"] = v.as_bool();
            break;
        case kind::integer:
            j["kind"] = "int";
            j["value"] = v.as_int();
            break;
        case kind::big_integer:
            j["kind"] = "int";
            j["value"] = raw_number(v.int_text());
            break;
        case kind::floating: {
            j["kind"] = "float";
            const double x = v.as_float();
            // Non-finite values have no JSON number: their Python repr, as a string.
            std::string text;
            if (!std::isfinite(x)) append_float_repr(text, x);
            j["value"] = text.empty() ? json(x) : json(text);
            break;
        }
        case kind::string:
            j["kind"] = "str";
            j["value"] = v.as_string();
            break;
        case kind::bytes: {
            std::string hex;
            append_hex(hex, v.as_bytes());
            j["kind"] = "bytes";
            j["hex"] = std::move(hex);
            break;
        }
        case kind::list:
        case kind::tuple:
        case kind::set:
            j["kind"] = container_kind(v);
            j["items"] = json::array();
            break;
        case kind::dict:
            j["kind"] = "dict";
            j["class"] = v.class_name();
            j["entries"] = json::array();
            break;
        case kind::tensor: {
            const ptio::tensor& t = v.as_tensor();
            const ptio::tensor_view& view = t.view();
            j = {{"kind", "tensor"},
                 {"dtype", ptio::name(view.dtype())},
                 {"shape", view.shape()},
                 {"stride", view.strides()},
                 {"storage_offset", view.storage_offset()},
                 {"storage", view.storage_key()},
                 {"location", t.location()},
                 {"nbytes", view.nbytes()},
                 {"requires_grad", t.requires_grad()},
                 {"parameter", t.is_parameter()}};
            break;
        }
        case kind::object:
            j = {{"kind", "object"},
                 {"class", v.class_name()},
                 {"origin", origin_name(v.object_origin())}};
            break;
    }
    return j;
}

class tree_writer {
public:
    explicit tree_writer(json_writer& w) : w_(w) {}

    void node(const value& v, std::size_t depth) {
        if (const std::optional<json> whole = flat_node(v, depth)) {
            w_.value(*whole);
            return;
        }
        const void* id = v.node_ptr();
        const std::size_t before = walk_.printed;
        {
            const walk_state::enter on_path(walk_, id);
            w_.begin_object();
            if (v.is(kind::dict)) {
                w_.key("kind").value("dict").key("class").value(v.class_name());
                entries(v.entries(), depth);
                if (const value state = v.state(); !state.is_none()) child("state", state, depth);
            } else if (v.is(kind::object)) {
                w_.key("kind").value("object").key("class").value(v.class_name());
                w_.key("origin").value(origin_name(v.object_origin()));
                if (const value args = v.args(); !args.is_none()) child("args", args, depth);
                if (const value state = v.state(); !state.is_none()) child("state", state, depth);
                if (!v.items().empty()) items(v.items(), depth);
                if (!v.entries().empty()) entries(v.entries(), depth);
            } else {
                w_.key("kind").value(container_kind(v));
                items(v.items(), depth);
            }
            w_.end();
        }
        walk_.done(id, walk_.printed - before);
    }

private:
    // The node whole when it prints on one line (no children, or elided), counted as
    // printed; nullopt (counted as well) when node() must stream it.
    std::optional<json> flat_node(const value& v, std::size_t depth) {
        ++walk_.printed;
        if (const walk_state::skip why = walk_.check(v.node_ptr(), depth);
            why != walk_state::skip::none)
            return json{{"kind", "elided"}, {"reason", elided_reason(why)}};
        if (has_children(v)) return std::nullopt;
        json j = leaf(v);
        walk_.done(v.node_ptr(), v.is(kind::string)  ? v.as_string().size()
                                 : v.is(kind::bytes) ? v.as_bytes().size()
                                                     : 0);
        return j;
    }

    void child(std::string_view name, const value& v, std::size_t depth) {
        w_.key(name);
        node(v, depth + 1);
    }

    void items(std::span<const value> list, std::size_t depth) {
        w_.key("items").begin_array();
        for (const value& item : list) node(item, depth + 1);
        w_.end();
    }

    void entries(std::span<const value::entry> list, std::size_t depth) {
        w_.key("entries").begin_array();
        for (const auto& [key, val] : list) {
            // One line when both sides do: {"key": {...}, "value": {...}}.
            if (!has_children(key) && !has_children(val)) {
                auto k = flat_node(key, depth + 1);
                auto v = flat_node(val, depth + 1);
                w_.value(json{{"key", std::move(*k)}, {"value", std::move(*v)}});
                continue;
            }
            w_.begin_object().key("key");
            node(key, depth + 1);
            w_.key("value");
            node(val, depth + 1);
            w_.end();
        }
        w_.end();
    }

    json_writer& w_;
    walk_state walk_;
};

}  // namespace

void write_tree_json(json_writer& w, const ptio::value& root) { tree_writer(w).node(root, 0); }

}  // namespace ptio_cli
