// tools/ptio/json_output.cpp
#include "json_output.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "text.hpp"

namespace ptio_cli {

namespace {

// The binary subtype that marks a raw_number (any byte would do: nothing else makes binaries).
constexpr std::uint8_t raw_number_subtype = 0x52;

void append_u_escape(std::string& out, std::uint32_t unit) {
    out += "\\u";
    append_hex(out, unit, 4);
}

// RFC 8259 escaping ("\"", "\\", control characters), with the file's bytes mapped to text
// as the header says.
void append_string(std::string& out, std::string_view text) {
    out += '"';
    std::size_t pos = 0;
    while (pos < text.size()) {
        // Copy a run of plain ASCII in one go.
        std::size_t end = pos;
        while (end < text.size()) {
            const auto c = static_cast<unsigned char>(text[end]);
            if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
            ++end;
        }
        out.append(text, pos, end - pos);
        pos = end;
        if (pos == text.size()) break;
        const auto c = static_cast<unsigned char>(text[pos]);
        if (c < 0x80) {
            ++pos;
            switch (c) {
                case '"':
                    out += "\\\"";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                case '\b':
                    out += "\\b";
                    break;
                case '\f':
                    out += "\\f";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                default:
                    append_u_escape(out, c);
            }
            continue;
        }
        const std::size_t start = pos;
        const std::int32_t cp = utf8::decode(text, pos);
        if (cp == utf8::invalid)
            out += "\xEF\xBF\xBD";  // U+FFFD
        else if (cp >= 0xD800 && cp <= 0xDFFF)
            append_u_escape(out, static_cast<std::uint32_t>(cp));
        else
            out.append(text, start, pos - start);
    }
    out += '"';
}

// An array of containers is a listing: an element a line (see the header).
bool listing(const json& j) {
    return j.is_array() &&
           std::any_of(j.begin(), j.end(), [](const json& e) { return e.is_structured(); });
}

template <class Integer>
void append_integer(std::string& out, Integer n) {
    char buf[24];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, n).ptr);
}

}  // namespace

json json_object(std::initializer_list<std::pair<std::string_view, json>> members) {
    json j = json::object();
    auto& object = j.get_ref<json::object_t&>();
    object.reserve(members.size());
    for (const auto& [name, member] : members) object.emplace_back(name, member);
    return j;
}

json raw_number(std::string_view digits) {
    return json::binary(std::vector<std::uint8_t>(digits.begin(), digits.end()),
                        raw_number_subtype);
}

json_writer& json_writer::open(char bracket, bool multiline) {
    before_value();
    s_ += bracket;
    levels_.push_back({bracket == '{' ? '}' : ']', multiline, true});
    if (multiline) ++multiline_open_;
    return *this;
}

json_writer& json_writer::end() {
    const level top = levels_.back();
    levels_.pop_back();
    if (top.multiline) {
        --multiline_open_;
        if (!top.empty) newline(multiline_open_);
    }
    s_ += top.closer;
    if (levels_.empty()) s_ += '\n';
    return *this;
}

json_writer& json_writer::key(std::string_view name) {
    before_value();
    append_string(s_, name);
    s_ += ": ";
    after_key_ = true;
    return *this;
}

json_writer& json_writer::value(const json& j) {
    before_value();
    write(j, multiline_open_);
    if (levels_.empty()) s_ += '\n';
    return *this;
}

json_writer& json_writer::members(const json& object) {
    for (const auto& [name, member] : object.items()) key(name).value(member);
    return *this;
}

// A scalar at the top is a whole document, as value() ends it.
json_writer& json_writer::scalar_done() {
    if (levels_.empty()) s_ += '\n';
    return *this;
}

json_writer& json_writer::string(std::string_view text) {
    before_value();
    append_string(s_, text);
    return scalar_done();
}

json_writer& json_writer::number(std::int64_t n) {
    before_value();
    append_integer(s_, n);
    return scalar_done();
}

json_writer& json_writer::number(std::uint64_t n) {
    before_value();
    append_integer(s_, n);
    return scalar_done();
}

json_writer& json_writer::boolean(bool b) {
    before_value();
    s_ += b ? "true" : "false";
    return scalar_done();
}

json_writer& json_writer::null() {
    before_value();
    s_ += "null";
    return scalar_done();
}

json_writer& json_writer::numbers(std::span<const std::int64_t> values) {
    before_value();
    s_ += '[';
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) s_ += ", ";
        append_integer(s_, values[i]);
    }
    s_ += ']';
    return scalar_done();
}

void json_writer::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (levels_.empty()) return;
    level& top = levels_.back();
    if (!top.empty) s_ += top.multiline ? "," : ", ";
    top.empty = false;
    if (top.multiline) {
        out_.maybe_flush();
        newline(multiline_open_);
    }
}

void json_writer::newline(std::size_t depth) {
    s_ += '\n';
    s_.append(2 * depth, ' ');
}

void json_writer::write(const json& j, std::size_t depth) {
    switch (j.type()) {
        case json::value_t::object:
        case json::value_t::array:
            return container(j, depth);
        case json::value_t::string:
            return append_string(s_, j.get_ref<const std::string&>());
        case json::value_t::number_integer:
            return append_integer(s_, j.get<std::int64_t>());
        case json::value_t::number_unsigned:
            return append_integer(s_, j.get<std::uint64_t>());
        case json::value_t::binary: {
            const auto& digits = j.get_binary();
            if (!digits.has_subtype() || digits.subtype() != raw_number_subtype)
                throw std::logic_error("json_writer: a binary value is not a raw_number");
            s_.append(digits.begin(), digits.end());
            return;
        }
        default:  // null, boolean, number_float (shortest round trip; NaN as null)
            s_ += j.dump();
    }
}

void json_writer::container(const json& j, std::size_t depth) {
    const bool object = j.is_object();
    if (j.empty()) {
        s_ += object ? "{}" : "[]";
        return;
    }
    const bool flat = !listing(j);
    const std::size_t inner = flat ? depth : depth + 1;
    s_ += object ? '{' : '[';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) s_ += flat ? ", " : ",";
        first = false;
        if (!flat) {
            out_.maybe_flush();
            newline(inner);
        }
        if (object) {
            append_string(s_, it.key());
            s_ += ": ";
        }
        write(it.value(), inner);
    }
    if (!flat) newline(depth);
    s_ += object ? '}' : ']';
}

void print_json(output& out, const json& doc) { json_writer(out).value(doc); }

}  // namespace ptio_cli
