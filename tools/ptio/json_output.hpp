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
//   and printed at a time, instead of built whole first. Measured on this machine: `show
//   --json` of a pickle of 3.2 million values took 7.3 s of CPU and 1.06 GB peak built
//   whole, 2.3 s and 0.42 GB streamed; `ls --json` of 100,000 tensors 2.5 s and 470 MB
//   against 1.2 s and 330 MB.
// Numbers print as dump() prints them: integers as integers, a double as the shortest text
// that reads back to it (with ".0" when it has no fraction), NaN and infinities as null.
//
// Layout: an array of scalars, and an object holding at most two levels of containers, are
// written on one line ({"path": ["a", "0"], "shape": [3, 4]}); any other container, and a
// streamed one, puts each member on its own line, indented two spaces per level. A listing
// is thus one tensor, one problem or one tree node a line.
//
// A writer appends to one `output`, which it flushes between lines; it is not thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "output.hpp"

namespace ptio_cli {

using json = nlohmann::ordered_json;

/// A JSON number written as `digits` verbatim (a big integer's decimal digits, as
/// ptio::value::int_text gives them). Only json_writer understands it: dump() would not.
[[nodiscard]] json raw_number(std::string_view digits);

/// Writes one document, streamed: containers opened with begin_object / begin_array take
/// their members one call at a time; value() writes a whole value. Closing the outermost
/// container, or a value() at the top, ends the document with a newline. Throws
/// std::logic_error for a binary value raw_number did not make.
class json_writer {
public:
    explicit json_writer(output& out) : out_(out), s_(out.text()) {}

    json_writer& begin_object() { return open('{'); }
    json_writer& begin_array() { return open('['); }
    json_writer& end();
    /// An object member's name; the next call writes its value.
    json_writer& key(std::string_view name);
    json_writer& value(const json& j);

private:
    json_writer& open(char bracket);
    void before_value();
    void write(const json& j, std::size_t depth);
    void container(const json& j, std::size_t depth);
    void newline(std::size_t depth);

    struct level {
        char closer;  // '}' or ']'
        bool empty;   // no member written yet
    };

    output& out_;
    std::string& s_;
    std::vector<level> levels_;  // the containers open, outermost first
    bool after_key_ = false;
};

/// A whole document: json_writer(out).value(doc).
void print_json(output& out, const json& doc);

}  // namespace ptio_cli
