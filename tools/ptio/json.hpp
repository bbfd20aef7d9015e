// tools/ptio/json.hpp — a tiny JSON writer appending to a std::string.
//
// Strings are escaped as RFC 8259 requires ("\"", "\\", control characters); valid UTF-8
// passes through unchanged, an invalid byte becomes U+FFFD and an encoded surrogate (which
// Python's "surrogatepass" pickles may contain) becomes its \uXXXX escape. The writer inserts
// commas itself; containers opened with `multiline` put each element on its own line,
// indented two spaces per open multiline container.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ptio_cli::json {

/// Appends `text` as a quoted, escaped JSON string.
void append_string(std::string& out, std::string_view text);

class writer {
public:
    explicit writer(std::string& out) : out_(out) {}

    writer& begin_object(bool multiline = false);
    writer& end_object();
    writer& begin_array(bool multiline = false);
    writer& end_array();
    /// An object member's name; the next call writes its value.
    writer& key(std::string_view name);

    writer& string(std::string_view text);
    writer& number(std::int64_t n);
    writer& number(std::uint64_t n);
    /// A number already in JSON syntax (a big integer's digits, a formatted float).
    writer& raw_number(std::string_view text);
    writer& boolean(bool b);
    writer& null();
    writer& int_array(std::span<const std::int64_t> values);

    /// The text is there: the writer may be used for the next document.
    [[nodiscard]] bool complete() const noexcept { return levels_.empty(); }

private:
    struct level {
        bool multiline;
        bool empty = true;
    };
    void before_value();
    void open(char bracket, bool multiline);
    void close(char bracket);
    void newline_indent(std::size_t depth);

    std::string& out_;
    std::vector<level> levels_;
    std::size_t multiline_depth_ = 0;  // indentation: multiline levels open
    bool after_key_ = false;
};

}  // namespace ptio_cli::json
