// tools/ptio/json.cpp
#include "json.hpp"

#include <charconv>
#include <string>

#include "utf8.hpp"

namespace ptio_cli::json {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void append_u_escape(std::string& out, std::uint32_t unit) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += hex_digits[(unit >> shift) & 0xF];
}

}  // namespace

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

void writer::newline_indent(std::size_t depth) {
    out_ += '\n';
    out_.append(2 * depth, ' ');
}

void writer::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (levels_.empty()) return;
    level& top = levels_.back();
    if (!top.empty) out_ += top.multiline ? "," : ", ";
    if (top.multiline) newline_indent(multiline_depth_);
    top.empty = false;
}

void writer::open(char bracket, bool multiline) {
    before_value();
    out_ += bracket;
    levels_.push_back(level{multiline});
    if (multiline) ++multiline_depth_;
}

void writer::close(char bracket) {
    const level top = levels_.back();
    levels_.pop_back();
    if (top.multiline) --multiline_depth_;
    if (top.multiline && !top.empty) newline_indent(multiline_depth_);
    out_ += bracket;
}

writer& writer::begin_object(bool multiline) {
    open('{', multiline);
    return *this;
}
writer& writer::end_object() {
    close('}');
    return *this;
}
writer& writer::begin_array(bool multiline) {
    open('[', multiline);
    return *this;
}
writer& writer::end_array() {
    close(']');
    return *this;
}

writer& writer::key(std::string_view name) {
    before_value();
    append_string(out_, name);
    out_ += ": ";
    after_key_ = true;
    return *this;
}

writer& writer::string(std::string_view text) {
    before_value();
    append_string(out_, text);
    return *this;
}

writer& writer::number(std::int64_t n) {
    before_value();
    char buf[24];
    out_.append(buf, std::to_chars(buf, buf + sizeof buf, n).ptr);
    return *this;
}

writer& writer::number(std::uint64_t n) {
    before_value();
    char buf[24];
    out_.append(buf, std::to_chars(buf, buf + sizeof buf, n).ptr);
    return *this;
}

writer& writer::raw_number(std::string_view text) {
    before_value();
    out_ += text;
    return *this;
}

writer& writer::boolean(bool b) {
    before_value();
    out_ += b ? "true" : "false";
    return *this;
}

writer& writer::null() {
    before_value();
    out_ += "null";
    return *this;
}

writer& writer::int_array(std::span<const std::int64_t> values) {
    begin_array();
    for (const std::int64_t v : values) number(v);
    return end_array();
}

}  // namespace ptio_cli::json
