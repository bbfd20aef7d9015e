// tools/ptio/tree_json.cpp
#include "tree_json.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
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
        case value::origin::subclass:
            return "subclass";
    }
    return "?";
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

bool is_container(const value& v) {
    return v.is(kind::list) || v.is(kind::tuple) || v.is(kind::set) || v.is(kind::dict) ||
           v.is(kind::object);
}

// A node that is not a container, whole.
json leaf(const value& v) {
    switch (v.type()) {
        case kind::boolean:
            return json_object({{"kind", "bool"}, {"value", v.as_bool()}});
        case kind::integer:
            return json_object({{"kind", "int"}, {"value", v.as_int()}});
        case kind::big_integer: {
            if (const auto decimal = int_decimal(v))
                return json_object({{"kind", "int"}, {"value", raw_number(*decimal)}});
            std::string hex;  // past str(int)'s 4300 digits: Python's hex() of it
            append_int_hex(hex, v.as_bytes());
            return json_object({{"kind", "int"}, {"hex", std::move(hex)}});
        }
        case kind::floating: {
            // Python's repr, as `show` prints it; a non-finite value, which JSON has no
            // number for, as that text in a string.
            std::string text;
            append_float_repr(text, v.as_float());
            return json_object(
                {{"kind", "float"},
                 {"value", std::isfinite(v.as_float()) ? raw_number(text) : json(text)}});
        }
        case kind::string:
            return json_object({{"kind", "str"}, {"value", v.as_string()}});
        case kind::bytes: {
            std::string hex;
            append_hex(hex, v.as_bytes());
            return json_object({{"kind", "bytes"}, {"hex", std::move(hex)}});
        }
        case kind::tensor: {
            const ptio::tensor& t = v.as_tensor();
            const ptio::tensor_view& view = t.view();
            return json_object({{"kind", "tensor"},
                                {"dtype", ptio::name(view.dtype())},
                                {"shape", view.shape()},
                                {"stride", view.strides()},
                                {"storage_offset", view.storage_offset()},
                                {"storage", view.storage_key()},
                                {"location", t.location()},
                                {"nbytes", view.nbytes()},
                                {"requires_grad", t.requires_grad()},
                                {"parameter", t.is_parameter()},
                                {"bare_storage", t.is_storage()}});
        }
        case kind::none:
            return json_object({{"kind", "none"}});
        default:
            throw std::logic_error("tree_json: containers are streamed, not built whole");
    }
}

// Containers are streamed (their items and entries a line each), so that a tree of any size
// costs one leaf's JSON at a time; leaves are built whole.
class tree_writer {
public:
    explicit tree_writer(json_writer& w) : w_(w) {}

    void node(const value& v, std::size_t depth) {
        ++walk_.printed;
        const void* id = v.identity();
        if (const walk_state::skip why = walk_.check(id, depth); why != walk_state::skip::none) {
            w_.value(json_object({{"kind", "elided"}, {"reason", elided_reason(why)}}));
            return;
        }
        if (!is_container(v)) {
            w_.value(leaf(v));
            walk_.done(id, v.is(kind::string)  ? v.as_string().size()
                           : v.is(kind::bytes) ? v.as_bytes().size()
                                               : 0);
            return;
        }
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
                w_.key("kind").value(v.is(kind::list)    ? "list"
                                     : v.is(kind::tuple) ? "tuple"
                                                         : "set");
                items(v.items(), depth);
            }
            w_.end();
        }
        walk_.done(id, walk_.printed - before);
    }

private:
    void child(std::string_view name, const value& v, std::size_t depth) {
        w_.key(name);
        node(v, depth + 1);
    }

    void items(std::span<const value> list, std::size_t depth) {
        w_.key("items").begin_array(true);
        for (const value& item : list) node(item, depth + 1);
        w_.end();
    }

    void entries(std::span<const value::entry> list, std::size_t depth) {
        w_.key("entries").begin_array(true);
        for (const auto& [key, val] : list) {
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
