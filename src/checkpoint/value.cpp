#include <charconv>
#include <cmath>

#include "core/text.hpp"
#include "pickle/node.hpp"
#include "ptio/error.hpp"
#include "ptio/tensor.hpp"

namespace ptio {

std::string_view to_string(kind k) noexcept {
    switch (k) {
        case kind::none: return "none";
        case kind::boolean: return "bool";
        case kind::integer: return "int";
        case kind::big_integer: return "big_int";
        case kind::floating: return "float";
        case kind::string: return "str";
        case kind::bytes: return "bytes";
        case kind::list: return "list";
        case kind::tuple: return "tuple";
        case kind::set: return "set";
        case kind::dict: return "dict";
        case kind::tensor: return "tensor";
        case kind::object: return "object";
    }
    return "?";
}

void value::expect(kind k) const {
    if (kind_ != k)
        throw error(errc::invalid_argument, "value is " + std::string(to_string(kind_)) +
                                                ", not " + std::string(to_string(k)));
}

bool value::as_bool() const {
    expect(kind::boolean);
    return b_;
}
std::int64_t value::as_int() const {
    if (kind_ == kind::boolean) return b_ ? 1 : 0;
    expect(kind::integer);
    return i_;
}
double value::as_float() const {
    if (kind_ == kind::integer) return static_cast<double>(i_);
    expect(kind::floating);
    return f_;
}
std::string_view value::as_string() const {
    expect(kind::string);
    return n_->text;
}
std::span<const std::byte> value::as_bytes() const {
    if (kind_ != kind::big_integer) expect(kind::bytes);
    return {reinterpret_cast<const std::byte*>(n_->text.data()), n_->text.size()};
}
const tensor& value::as_tensor() const {
    expect(kind::tensor);
    return *t_;
}

std::string value::int_text() const {
    if (kind_ == kind::integer || kind_ == kind::boolean) return std::to_string(as_int());
    expect(kind::big_integer);
    const auto bytes = as_bytes();
    if (auto decimal = detail::text::twos_to_decimal(bytes)) return std::move(*decimal);
    throw error(errc::limit_exceeded,
                "an integer of " + std::to_string(bytes.size()) + " bytes has more than " +
                    std::to_string(detail::text::max_int_digits) +
                    " decimal digits (CPython's limit for str(int)); as_bytes() gives its "
                    "two's-complement bytes");
}

std::span<const value> value::items() const {
    if (kind_ != kind::list && kind_ != kind::tuple && kind_ != kind::set &&
        kind_ != kind::object)
        expect(kind::list);
    return n_->items;
}
std::span<const value::entry> value::entries() const {
    if (kind_ != kind::object) expect(kind::dict);
    return n_->entries;
}
std::size_t value::size() const {
    switch (kind_) {
        case kind::list: case kind::tuple: case kind::set: return n_->items.size();
        case kind::dict: return n_->entries.size();
        case kind::string: return n_->text.size();
        case kind::bytes: return as_bytes().size();
        default: expect(kind::list); return 0;
    }
}
const value* value::get(std::string_view key) const {
    expect(kind::dict);
    for (const auto& [k, v] : n_->entries)
        if (k.kind_ == kind::string && k.n_->text == key) return &v;
    return nullptr;
}
std::string_view value::class_name() const {
    if (kind_ == kind::dict) return n_->name;
    if (kind_ == kind::tuple) return n_->name.empty() ? "builtins.tuple" : std::string_view(n_->name);
    if (kind_ == kind::set) return n_->name.empty() ? "builtins.set" : std::string_view(n_->name);
    if (kind_ == kind::bytes) return n_->name.empty() ? "builtins.bytes" : std::string_view(n_->name);
    expect(kind::object);
    return n_->text;  // set by the machine to "module.name" for objects
}
std::string_view value::module() const {
    expect(kind::object);
    return std::string_view(n_->text).substr(0, n_->text.size() - n_->name.size() - 1);
}
std::string_view value::name() const {
    expect(kind::object);
    return n_->name;
}
value::origin value::object_origin() const {
    expect(kind::object);
    return n_->origin;
}
value value::args() const {
    expect(kind::object);
    return n_->args;
}
value value::state() const {
    if (kind_ != kind::dict) expect(kind::object);
    return n_->state;
}

namespace {
void append_repr(std::string& out, const value& v);

void append_float(std::string& out, double f) {
    if (std::isnan(f)) { out += "nan"; return; }
    if (std::isinf(f)) { out += f < 0 ? "-inf" : "inf"; return; }
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, f);
    std::string s(buf, r.ptr);
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    out += s;
}

// Keys are short in real files; a hostile file can share one tuple node at every level of a
// deep key, so the text is capped rather than expanded without bound.
constexpr std::size_t max_key_text = 4096;

void append_repr(std::string& out, const value& v) {
    if (out.size() > max_key_text)
        throw error(errc::limit_exceeded, "a dict key whose text passes " +
                                              std::to_string(max_key_text) + " characters");
    switch (v.type()) {
        case kind::none: out += "None"; return;
        case kind::boolean: out += v.as_bool() ? "True" : "False"; return;
        case kind::integer: case kind::big_integer: out += v.int_text(); return;
        case kind::floating: append_float(out, v.as_float()); return;
        case kind::string: out += '\''; out += v.as_string(); out += '\''; return;
        case kind::tuple: {
            out += '(';
            const auto items = v.items();
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (i) out += ", ";
                append_repr(out, items[i]);
            }
            if (items.size() == 1) out += ',';
            out += ')';
            return;
        }
        default: out += '<'; out += to_string(v.type()); out += '>'; return;
    }
}
}  // namespace

std::string key_text(const value& key) {
    if (key.type() == kind::string) return std::string(key.as_string());
    std::string out;
    append_repr(out, key);
    return out;
}

}  // namespace ptio
