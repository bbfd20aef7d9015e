// tools/ptio/json_output.hpp — how every `--json` of ptio prints its document.
//
// A command builds nlohmann::ordered_json values (members print in the order they were
// added) and prints them here rather than with dump(), because:
// - strings hold a file's bytes, which need not be valid UTF-8 (pickled names, paths from
//   the command line): valid UTF-8 passes through unchanged, an invalid byte becomes U+FFFD
//   and an encoded surrogate (which Python's "surrogatepass" pickles may contain) becomes
//   its \uXXXX escape, where dump() would throw or replace whole sequences;
// - a Python int beyond 64 bits fits no JSON number type of nlohmann's: raw_number() carries
//   its digits;
// - a listing as long as the file (ls's tensors, show's tree) is streamed, one element built
//   and printed at a time, instead of built whole first: `show --json` of a pickle of 3.2
//   million values peaked at 1.06 GB built whole, 134 MB streamed. Streamed, nlohmann's
//   values still cost CPU time (best of 6, on a busy machine): 2.4 s for that pickle
//   against 1.5 s with the hand-written writer this replaced, and 1.2 s against 0.8 s for
//   `ls --json` of 100,000 tensors; a checkpoint of a few thousand tensors pays milliseconds.
// Numbers print as dump() prints them: integers as integers, a double as the shortest text
// that reads back to it, always as a float (2.0, 0.1, 1e-05), NaN and infinities as null.
//
// Layout: a streamed container is on one line, or puts each member on a line of its own, as
// its begin_ call asks; a built value is on one line, except that an array of containers (a
// listing of tensors, problems, devices) puts each element on a line of its own. Lines are
// indented two spaces per container open across lines.
//
// A writer appends to one `output`, which it flushes between lines; it is not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "output.hpp"

namespace ptio_cli {

using json = nlohmann::ordered_json;

/// An object of these members, in this order (the names must differ). Rows and leaves are
/// built with it rather than with nlohmann's own `json{{"key", value}, …}`, whose
/// per-member array temporaries made `show --json` of 3.2 million values take twice the CPU
/// time (5.2 s against 2.6 s, best of 5).
[[nodiscard]] json json_object(std::initializer_list<std::pair<std::string_view, json>> members);

/// A JSON number written as `digits` verbatim (a big integer's decimal digits, as
/// ptio::value::int_text gives them). Only json_writer understands it: dump() would not.
[[nodiscard]] json raw_number(std::string_view digits);

/// Writes one document, streamed: containers opened with begin_object / begin_array take
/// their members one call at a time (`multiline`: each on a line of its own); value()
/// writes a whole value. Closing the outermost container, or a value() at the top, ends the
/// document with a newline. Throws std::logic_error for a binary value raw_number did not
/// make.
class json_writer {
public:
    explicit json_writer(output& out) : out_(out), s_(out.text()) {}

    json_writer& begin_object(bool multiline = false) { return open('{', multiline); }
    json_writer& begin_array(bool multiline = false) { return open('[', multiline); }
    json_writer& end();
    /// An object member's name; the next call writes its value.
    json_writer& key(std::string_view name);
    json_writer& value(const json& j);
    /// Every member of a built object, as key() and value() would write them one by one.
    json_writer& members(const json& object);
    /// Scalars and an array of integers written straight from their values, as value() would
    /// write them, with no json built: what a listing as long as the file prints per row
    /// (`ls --json` of 100,000 tensors built a row of nlohmann values each, a dozen
    /// allocations a row).
    json_writer& string(std::string_view text);
    json_writer& number(std::int64_t n);
    json_writer& number(std::uint64_t n);
    json_writer& boolean(bool b);
    json_writer& null();
    json_writer& numbers(std::span<const std::int64_t> values);

private:
    json_writer& open(char bracket, bool multiline);
    void before_value();
    json_writer& scalar_done();
    void write(const json& j, std::size_t depth);
    void container(const json& j, std::size_t depth);
    void newline(std::size_t depth);

    struct level {
        char closer;  // '}' or ']'
        bool multiline;
        bool empty;  // no member written yet
    };

    output& out_;
    std::string& s_;
    std::vector<level> levels_;       // the containers open, outermost first
    std::size_t multiline_open_ = 0;  // those of levels_ open across lines: the indentation
    bool after_key_ = false;
};

/// A whole document: json_writer(out).value(doc).
void print_json(output& out, const json& doc);

}  // namespace ptio_cli
