// tools/ptio/tree_json.cpp
#include "tree_json.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include "ptio/dtype.hpp"
#include "ptio/tensor.hpp"
#include "pyformat.hpp"
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

class tree_writer {
public:
    explicit tree_writer(json::writer& w) : w_(w) {}

    void node(const value& v, std::size_t depth) {
        ++walk_.printed;
        const void* id = v.identity();
        switch (walk_.check(id, depth)) {
            case walk_state::skip::none:
                break;
            case walk_state::skip::too_deep:
                return elided("depth");
            case walk_state::skip::cycle:
                return elided("cycle");
            case walk_state::skip::shared:
                return elided("shared");
        }
        const std::size_t before = walk_.printed;
        const walk_state::enter on_path(walk_, id);
        w_.begin_object();
        switch (v.type()) {
            case kind::none:
                w_.key("kind").string("none");
                break;
            case kind::boolean:
                w_.key("kind").string("bool").key("value").boolean(v.as_bool());
                break;
            case kind::integer:
                w_.key("kind").string("int").key("value").number(v.as_int());
                break;
            case kind::big_integer:
                w_.key("kind").string("int").key("value").raw_number(v.int_text());
                break;
            case kind::floating:
                floating(v.as_float());
                break;
            case kind::string:
                w_.key("kind").string("str").key("value").string(v.as_string());
                break;
            case kind::bytes:
                bytes(v.as_bytes());
                break;
            case kind::list:
            case kind::tuple:
            case kind::set:
                w_.key("kind").string(v.is(kind::list)    ? "list"
                                      : v.is(kind::tuple) ? "tuple"
                                                          : "set");
                items("items", v.items(), depth);
                break;
            case kind::dict:
                w_.key("kind").string("dict").key("class").string(v.class_name());
                entries("entries", v.entries(), depth);
                if (const value state = v.state(); !state.is_none()) child("state", state, depth);
                break;
            case kind::tensor:
                tensor(v.as_tensor());
                break;
            case kind::object:
                object(v, depth);
                break;
        }
        w_.end_object();
        const std::size_t size = v.is(kind::string)  ? v.as_string().size()
                                 : v.is(kind::bytes) ? v.as_bytes().size()
                                                     : walk_.printed - before;
        walk_.done(id, size);
    }

private:
    void elided(std::string_view reason) {
        w_.begin_object().key("kind").string("elided").key("reason").string(reason).end_object();
    }

    void floating(double x) {
        w_.key("kind").string("float").key("value");
        std::string text;
        append_float_repr(text, x);
        if (std::isfinite(x))
            w_.raw_number(text);
        else
            w_.string(text);
    }

    void bytes(std::span<const std::byte> data) {
        static constexpr char hex[] = "0123456789abcdef";
        std::string text;
        text.reserve(2 * data.size());
        for (const std::byte b : data) {
            text += hex[static_cast<unsigned>(b) >> 4];
            text += hex[static_cast<unsigned>(b) & 0xF];
        }
        w_.key("kind").string("bytes").key("hex").string(text);
    }

    void tensor(const ptio::tensor& t) {
        const ptio::tensor_view& view = t.view();
        w_.key("kind").string("tensor").key("dtype").string(ptio::name(view.dtype()));
        w_.key("shape").int_array(view.shape()).key("stride").int_array(view.strides());
        w_.key("storage_offset").number(view.storage_offset());
        w_.key("storage").string(view.storage_key()).key("location").string(t.location());
        w_.key("nbytes").number(view.nbytes()).key("requires_grad").boolean(t.requires_grad());
        w_.key("parameter").boolean(t.is_parameter());
    }

    void object(const value& v, std::size_t depth) {
        w_.key("kind").string("object").key("class").string(v.class_name());
        w_.key("origin").string(origin_name(v.object_origin()));
        if (const value args = v.args(); !args.is_none()) child("args", args, depth);
        if (const value state = v.state(); !state.is_none()) child("state", state, depth);
        if (!v.items().empty()) items("items", v.items(), depth);
        if (!v.entries().empty()) entries("entries", v.entries(), depth);
    }

    void child(std::string_view name, const value& v, std::size_t depth) {
        w_.key(name);
        node(v, depth + 1);
    }

    void items(std::string_view name, std::span<const value> list, std::size_t depth) {
        w_.key(name).begin_array(true);
        for (const value& item : list) node(item, depth + 1);
        w_.end_array();
    }

    void entries(std::string_view name, std::span<const value::entry> list, std::size_t depth) {
        w_.key(name).begin_array(true);
        for (const auto& [key, val] : list) {
            w_.begin_object().key("key");
            node(key, depth + 1);
            w_.key("value");
            node(val, depth + 1);
            w_.end_object();
        }
        w_.end_array();
    }

    json::writer& w_;
    walk_state walk_;
};

}  // namespace

void write_tree_json(json::writer& w, const ptio::value& root) { tree_writer(w).node(root, 0); }

}  // namespace ptio_cli
