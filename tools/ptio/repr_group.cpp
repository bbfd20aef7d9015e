// tools/ptio/repr_group.cpp
#include "repr_group.hpp"

#include <charconv>

#include "pyformat.hpp"
#include "repr.hpp"

namespace ptio_cli::repr_detail {

using ptio::kind;

element group::at(std::size_t i) const {
    switch (from) {
        case source::items:
            return {.val = &items[i]};
        case source::entries:
            return {
                .shape = element::form::keyed, .key = &entries[i].first, .val = &entries[i].second};
        case source::pairs:
            return {
                .shape = element::form::pair, .key = &entries[i].first, .val = &entries[i].second};
        case source::pair:
            return {.val = i == 0 ? pair_key : pair_val};
        case source::object:
            break;
    }
    if (i < items.size()) return {.val = &items[i]};
    i -= items.size();
    if (!args.is_none() && i-- == 0) return {.label = "args=", .val = &args};
    if (!state.is_none() && i-- == 0) return {.label = "state=", .val = &state};
    if (!extra_items.empty() && i-- == 0)
        return {.shape = element::form::list, .label = "items=", .items = extra_items};
    return {.shape = element::form::dict, .label = "entries=", .entries = extra_entries};
}

bool is_group(const value& v) {
    switch (v.type()) {
        case kind::list:
        case kind::tuple:
        case kind::set:
        case kind::dict:
            return true;
        case kind::object:
            return v.object_origin() != value::origin::global || !v.state().is_none() ||
                   !v.items().empty() || !v.entries().empty();
        default:
            return false;
    }
}

group make_group(const value& v) {
    group g;
    g.node = v.identity();
    switch (v.type()) {
        case kind::list:
            g.open = "[", g.close = "]", g.empty = "[]", g.ellipsis = "[...]";
            g.items = v.items();
            break;
        case kind::tuple:
            g.open = "(", g.close = ")", g.empty = "()", g.ellipsis = "(...)", g.one_comma = true;
            g.items = v.items();
            break;
        case kind::set:
            if (v.class_name() == "builtins.frozenset")
                g.open = "frozenset({", g.close = "})", g.empty = "frozenset()";
            else
                g.open = "{", g.close = "}", g.empty = "set()";
            g.ellipsis = "{...}";
            g.items = v.items();
            break;
        case kind::dict: {
            const std::string_view cls = v.class_name();
            g.entries = v.entries();
            g.from = group::source::entries;
            if (cls.empty() || cls == "dict" || cls == "builtins.dict") {
                g.open = "{", g.close = "}", g.empty = "{}", g.ellipsis = "{...}";
                break;
            }
            const std::string name(cls.substr(cls.rfind('.') + 1));
            g.empty = name + "()";
            if (cls == "collections.OrderedDict") {
                g.open = name + "([", g.close = "])", g.from = group::source::pairs;
            } else {
                g.open = name + "({", g.close = "})";
            }
            break;
        }
        default: {  // object
            const std::string name(v.class_name());
            g.open = name + "(", g.close = ")", g.empty = name + "()";
            g.from = group::source::object;
            const value args = v.args();
            if (args.is(kind::tuple) || args.is(kind::list))
                g.items = args.items();
            else
                g.args = args;
            g.state = v.state();
            g.extra_items = v.items();
            g.extra_entries = v.entries();
            g.count = g.items.size() + (g.args.is_none() ? 0 : 1) + (g.state.is_none() ? 0 : 1) +
                      (g.extra_items.empty() ? 0 : 1) + (g.extra_entries.empty() ? 0 : 1);
            return g;
        }
    }
    g.count = g.from == group::source::items ? g.items.size() : g.entries.size();
    return g;
}

group sub_group(const element& e) {
    group g;
    if (e.shape == element::form::pair) {
        g.open = "(", g.close = ")", g.from = group::source::pair;
        g.pair_key = e.key, g.pair_val = e.val, g.count = 2;
    } else if (e.shape == element::form::list) {
        g.open = "[", g.close = "]", g.empty = "[]", g.items = e.items, g.count = e.items.size();
    } else {
        g.open = "{", g.close = "}", g.empty = "{}", g.from = group::source::entries;
        g.entries = e.entries, g.count = e.entries.size();
    }
    return g;
}

std::size_t leaf_size(const value& v) {
    if (v.is(kind::string)) return v.as_string().size();
    if (v.is(kind::bytes)) return v.as_bytes().size();
    return 0;
}

void append_leaf(std::string& s, const value& v) {
    switch (v.type()) {
        case kind::none:
            s += "None";
            break;
        case kind::boolean:
            s += v.as_bool() ? "True" : "False";
            break;
        case kind::integer: {
            char buf[24];
            s.append(buf, std::to_chars(buf, buf + sizeof buf, v.as_int()).ptr);
            break;
        }
        case kind::big_integer:
            if (const auto decimal = int_decimal(v)) s += *decimal;
            else append_int_hex(s, v.as_bytes());
            break;
        case kind::floating:
            append_float_repr(s, v.as_float());
            break;
        case kind::string:
            append_str_repr(s, v.as_string());
            break;
        case kind::bytes:
            if (v.class_name() == "builtins.bytearray") {
                s += "bytearray(";
                append_bytes_repr(s, v.as_bytes());
                s += ')';
            } else {
                append_bytes_repr(s, v.as_bytes());
            }
            break;
        case kind::tensor:
            append_tensor_summary(s, v.as_tensor());
            break;
        default:
            s += v.class_name();
            break;  // a bare global
    }
}

}  // namespace ptio_cli::repr_detail
