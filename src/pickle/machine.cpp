#include "pickle/machine.hpp"

#include "core/text.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

#include <charconv>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>

namespace ptio::detail::pickle {
namespace {

using text::append_utf8;
using text::latin1_to_utf8;
using text::valid_utf8;

enum op : std::uint8_t {
    MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', FLOAT = 'F', INT = 'I',
    BININT = 'J', BININT1 = 'K', LONG = 'L', BININT2 = 'M', NONE = 'N', PERSID = 'P',
    BINPERSID = 'Q', REDUCE = 'R', STRING = 'S', BINSTRING = 'T', SHORT_BINSTRING = 'U',
    UNICODE = 'V', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd',
    EMPTY_DICT = '}', APPENDS = 'e', GET = 'g', BINGET = 'h', INST = 'i', LONG_BINGET = 'j',
    LIST = 'l', EMPTY_LIST = ']', OBJ = 'o', PUT = 'p', BINPUT = 'q', LONG_BINPUT = 'r',
    SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G',
    PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85,
    TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
    BINBYTES = 'B', SHORT_BINBYTES = 'C', SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d,
    BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92,
    STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95, BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97,
    READONLY_BUFFER = 0x98,
};

class machine {
public:
    machine(cursor& c, arena& nodes, resolver& r, const limits& caps)
        : c_(c), nodes_(nodes), r_(r), caps_(caps) {
        stack_.reserve(64);
        memo_.reserve(std::min<std::size_t>(c.remaining() / 8, caps.max_memo));
    }

    result run();

private:
    [[noreturn]] void fail(errc code, const std::string& what) const { c_.fail_at(code, at_, what); }
    [[noreturn]] void bad(const std::string& what) const { fail(errc::bad_pickle, what); }

    void push(value v) {
        if (stack_.size() >= caps_.max_stack)
            fail(errc::limit_exceeded, "the unpickler stack passes its cap of " +
                                           std::to_string(caps_.max_stack) + " values");
        stack_.push_back(v);
    }
    // Large bytes (a numpy array's data) stay a view of the pickle, which outlives the
    // tree (the file's mapping, or a copy the checkpoint keeps); small ones are copied.
    value binbytes(std::uint64_t n, const char* what) {
        const auto span = c_.take(n, what);
        if (span.size() < view_bytes_from)
            return make_string(nodes_, std::string(reinterpret_cast<const char*>(span.data()), span.size()), kind::bytes);
        auto& node = nodes_.make(kind::bytes);
        node.raw = span;
        return value::make_node(kind::bytes, &node);
    }
    static constexpr std::size_t view_bytes_from = 4096;

    value pop(const char* opname) {
        if (stack_.size() <= floor()) bad(std::string(opname) + " on an empty stack");
        value v = stack_.back();
        stack_.pop_back();
        return v;
    }
    value& top(const char* opname) {
        if (stack_.size() <= floor()) bad(std::string(opname) + " on an empty stack");
        return stack_.back();
    }
    std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    std::vector<value> pop_mark(const char* opname) {
        if (marks_.empty()) bad(std::string(opname) + " without a MARK");
        const std::size_t m = marks_.back();
        marks_.pop_back();
        std::vector<value> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        return items;
    }

    // Big integers are kept as digits and turned into decimal on demand, which is quadratic;
    // checkpoints hold a few bytes' worth, so anything past these caps is refused.
    static constexpr std::size_t max_int_bytes = 4096;
    static constexpr std::size_t max_int_digits = 4300;  // CPython's own int(str) limit
    value make_int_from_digits(std::span<const std::byte> digits) {
        if (digits.size() > max_int_bytes)
            fail(errc::limit_exceeded, "an integer of " + std::to_string(digits.size()) +
                                           " bytes, over the cap of " + std::to_string(max_int_bytes));
        if (const auto small = text::twos_to_int64(digits)) return value::make_int(*small);
        return make_string(nodes_, std::string(reinterpret_cast<const char*>(digits.data()), digits.size()),
                           kind::big_integer);
    }
    value make_int_from_text(std::string_view text) {
        std::string_view t = text;
        if (!t.empty() && t.back() == 'L') t.remove_suffix(1);
        if (t.empty()) bad("an empty integer literal");
        std::int64_t v = 0;
        const char* b = t.data();
        if (*b == '+') ++b;
        auto [p, ec] = std::from_chars(b, t.data() + t.size(), v);
        if (ec == std::errc() && p == t.data() + t.size()) return value::make_int(v);
        for (std::size_t i = (t[0] == '-' || t[0] == '+') ? 1 : 0; i < t.size(); ++i)
            if (t[i] < '0' || t[i] > '9') bad("a malformed integer literal '" + std::string(text) + "'");
        if (ec != std::errc::result_out_of_range) bad("a malformed integer literal");
        if (t.size() > max_int_digits)
            fail(errc::limit_exceeded, "an integer literal of " + std::to_string(t.size()) +
                                           " digits, over the cap of " + std::to_string(max_int_digits));
        const auto digits = text::decimal_to_twos(t);
        if (!digits) bad("a malformed integer literal '" + std::string(text) + "'");
        return make_int_from_digits({reinterpret_cast<const std::byte*>(digits->data()), digits->size()});
    }
    value text_value(std::string_view raw, const char* opname) {
        if (!valid_utf8(raw)) bad(std::string(opname) + ": a string that is not valid UTF-8");
        return make_string(nodes_, std::string(raw));
    }
    // py2 str: torch.load decodes with UTF-8; bytes that are not UTF-8 are kept as Latin-1.
    value py2_string(std::string_view raw) {
        return make_string(nodes_, valid_utf8(raw) ? std::string(raw) : latin1_to_utf8(raw));
    }
    std::string unquote(std::string_view lit);
    std::string raw_unicode_escape(std::string_view lit);

    // Python's memo is a dict; torch's pickles number it densely from 0. Dense indices go to
    // a vector, any other to a map, so a file cannot make the vector huge with a few PUTs.
    void memo_put(std::uint64_t idx, const value& v) {
        if (idx < memo_.size()) {
            if (!memo_[static_cast<std::size_t>(idx)].second) ++memo_count_;
            memo_[static_cast<std::size_t>(idx)] = {v, true};
            return;
        }
        if (memo_count_ >= caps_.max_memo)
            fail(errc::limit_exceeded, "the memo passes its cap of " + std::to_string(caps_.max_memo));
        if (idx == memo_.size() && sparse_.empty()) {
            memo_.emplace_back(v, true);
            ++memo_count_;
            return;
        }
        if (sparse_.insert_or_assign(idx, v).second) ++memo_count_;
    }
    value memo_get(std::uint64_t idx) {
        if (idx < memo_.size() && memo_[static_cast<std::size_t>(idx)].second)
            return memo_[static_cast<std::size_t>(idx)].first;
        if (auto it = sparse_.find(idx); it != sparse_.end()) return it->second;
        bad("memo entry " + std::to_string(idx) + " was never stored");
    }
    std::uint64_t memo_index_text() {
        auto t = c_.line("memo index");
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (ec != std::errc() || p != t.data() + t.size()) bad("a malformed memo index");
        return v;
    }

    // Nesting is capped here, where the offset is known, for trees built bottom-up (the
    // usual attack); the tensor walk after unpickling caps whatever mutation builds later.
    static std::uint32_t depth_of(const value& v) {
        const auto* n = v.node_ptr();
        return n ? n->depth : 0;
    }
    void deepen(node& n, const value& child) {
        const std::uint32_t d = depth_of(child) + 1;
        if (d > n.depth) {
            if (d > caps_.max_depth)
                fail(errc::limit_exceeded, "containers nest deeper than the cap of " +
                                               std::to_string(caps_.max_depth));
            n.depth = d;
        }
    }
    void append_to(value& target, std::vector<value>&& items, const char* opname) {
        if (target.type() != kind::list && target.type() != kind::object)
            bad(std::string(opname) + " on a " + std::string(to_string(target.type())) + ", not a list");
        auto& n = arena::mut(target);
        for (const auto& i : items) deepen(n, i);
        n.items.insert(n.items.end(), items.begin(), items.end());
    }
    void set_item(node& n, const value& k, const value& v);
    void set_items(value& target, std::vector<value>&& kv, const char* opname) {
        if (target.type() != kind::dict && target.type() != kind::object)
            bad(std::string(opname) + " on a " + std::string(to_string(target.type())) + ", not a dict");
        if (kv.size() % 2) bad(std::string(opname) + " with an odd number of items");
        auto& n = arena::mut(target);
        for (std::size_t i = 0; i < kv.size(); i += 2) {
            deepen(n, kv[i]);
            deepen(n, kv[i + 1]);
            set_item(n, kv[i], kv[i + 1]);
        }
    }
    value make_dict_node() {
        auto& n = nodes_.make(kind::dict);
        n.name = "dict";
        return value::make_node(kind::dict, &n);
    }
    value make_list(std::vector<value>&& items, kind k) {
        auto& n = nodes_.make(k);
        for (const auto& i : items) deepen(n, i);
        n.items = std::move(items);
        return value::make_node(k, &n);
    }
    std::string_view global_part(std::string_view s, const char* what) {
        if (s.empty()) bad(std::string("GLOBAL with an empty ") + what);
        return s;
    }

    cursor& c_;
    arena& nodes_;
    resolver& r_;
    const limits& caps_;
    std::uint64_t at_ = 0;
    std::vector<value> stack_;
    std::vector<std::size_t> marks_;
    std::vector<std::pair<value, bool>> memo_;
    std::unordered_map<std::uint64_t, value> sparse_;
    std::uint64_t memo_count_ = 0;  // distinct memo keys: Python's len(memo)
};

// Python's dict: a key already present keeps its place and takes the new value. Keys are
// compared for str, int and big int (what checkpoints use); other keys are appended.
bool indexable(const value& k) {
    return k.is(kind::string) || k.is(kind::integer) || k.is(kind::big_integer);
}

void machine::set_item(node& n, const value& k, const value& v) {
    if (indexable(k)) {
        if (n.entries.size() >= 16 && !n.index) {
            n.index = std::make_unique<std::unordered_map<value, std::size_t, node::key_hash, node::key_equal>>();
            n.index->reserve(n.entries.size() * 2);
            for (std::size_t i = 0; i < n.entries.size(); ++i)
                if (indexable(n.entries[i].first)) n.index->emplace(n.entries[i].first, i);
        }
        if (n.index) {
            auto [it, fresh] = n.index->emplace(k, n.entries.size());
            if (!fresh) { n.entries[it->second].second = v; return; }
        } else {
            for (auto& e : n.entries)
                if (node::key_equal{}(e.first, k)) { e.second = v; return; }
        }
    }
    n.entries.emplace_back(k, v);
}

std::string machine::unquote(std::string_view lit) {
    if (lit.size() < 2 || (lit.front() != '\'' && lit.front() != '"') || lit.back() != lit.front())
        bad("STRING argument is not a quoted literal");
    lit = lit.substr(1, lit.size() - 2);
    std::string out;
    for (std::size_t i = 0; i < lit.size(); ++i) {
        char ch = lit[i];
        if (ch != '\\') { out += ch; continue; }
        if (++i == lit.size()) bad("STRING literal ends in a backslash");
        ch = lit[i];
        switch (ch) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'v': out += '\v'; break;
            case '\\': case '\'': case '"': out += ch; break;
            case '\n': break;
            case 'x': {
                if (i + 2 >= lit.size() + 0 && i + 2 > lit.size()) bad("truncated \\x escape");
                unsigned v = 0;
                auto [p, ec] = std::from_chars(lit.data() + i + 1, lit.data() + std::min(lit.size(), i + 3), v, 16);
                if (ec != std::errc() || p != lit.data() + i + 3) bad("malformed \\x escape");
                out += static_cast<char>(v);
                i += 2;
                break;
            }
            default:
                if (ch >= '0' && ch <= '7') {
                    unsigned v = 0;
                    std::size_t j = i;
                    for (; j < lit.size() && j < i + 3 && lit[j] >= '0' && lit[j] <= '7'; ++j)
                        v = v * 8 + static_cast<unsigned>(lit[j] - '0');
                    out += static_cast<char>(v & 0xFF);
                    i = j - 1;
                } else {
                    out += '\\';
                    out += ch;
                }
        }
    }
    return out;
}

std::string machine::raw_unicode_escape(std::string_view lit) {
    std::string out;
    for (std::size_t i = 0; i < lit.size(); ++i) {
        const auto ch = static_cast<unsigned char>(lit[i]);
        if (ch == '\\' && i + 1 < lit.size() && (lit[i + 1] == 'u' || lit[i + 1] == 'U')) {
            const std::size_t n = lit[i + 1] == 'u' ? 4 : 8;
            if (i + 2 + n > lit.size()) bad("truncated \\u escape in UNICODE");
            std::uint32_t cp = 0;
            auto [p, ec] = std::from_chars(lit.data() + i + 2, lit.data() + i + 2 + n, cp, 16);
            if (ec != std::errc() || p != lit.data() + i + 2 + n || cp > 0x10FFFF)
                bad("malformed \\u escape in UNICODE");
            append_utf8(out, cp);
            i += 1 + n;
        } else {
            append_utf8(out, ch);
        }
    }
    return out;
}

result machine::run() {
    result res;
    for (;;) {
        at_ = c_.absolute();
        const auto opcode = c_.u8("opcode");
        switch (opcode) {
            case PROTO: {
                const int p = c_.u8("PROTO");
                if (p > 5) bad("unsupported pickle protocol " + std::to_string(p));
                res.protocol = p;
                break;
            }
            case FRAME: (void)c_.u64("FRAME"); break;
            case STOP: {
                if (stack_.empty()) bad("STOP with an empty stack");
                res.root = stack_.back();
                res.end = c_.position();
                return res;
            }
            case MARK:
                if (marks_.size() >= caps_.max_stack)
                    fail(errc::limit_exceeded, "too many open MARKs");
                marks_.push_back(stack_.size());
                break;
            case POP:
                if (!marks_.empty() && marks_.back() == stack_.size()) marks_.pop_back();
                else (void)pop("POP");
                break;
            case POP_MARK: (void)pop_mark("POP_MARK"); break;
            case DUP: push(top("DUP")); break;

            case NONE: push({}); break;
            case NEWTRUE: push(value::make_bool(true)); break;
            case NEWFALSE: push(value::make_bool(false)); break;
            case BININT: push(value::make_int(static_cast<std::int32_t>(c_.u32("BININT")))); break;
            case BININT1: push(value::make_int(c_.u8("BININT1"))); break;
            case BININT2: push(value::make_int(c_.u16("BININT2"))); break;
            case INT: {
                const auto t = c_.line("INT");
                if (t == "00") push(value::make_bool(false));
                else if (t == "01") push(value::make_bool(true));
                else push(make_int_from_text(t));
                break;
            }
            case LONG: push(make_int_from_text(c_.line("LONG"))); break;
            case LONG1: {
                const auto n = c_.u8("LONG1");
                push(make_int_from_digits(c_.take(n, "LONG1")));
                break;
            }
            case LONG4: {
                const auto n = static_cast<std::int32_t>(c_.u32("LONG4"));
                if (n < 0) bad("LONG4 with a negative length");
                push(make_int_from_digits(c_.take(static_cast<std::uint64_t>(n), "LONG4")));
                break;
            }
            case FLOAT: {
                auto t = c_.line("FLOAT");
                double d = 0;
                auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
                if (ec != std::errc() || p != t.data() + t.size()) bad("a malformed FLOAT literal");
                push(value::make_float(d));
                break;
            }
            case BINFLOAT: {
                auto raw = c_.take(8, "BINFLOAT");
                std::uint64_t bits = 0;
                for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<std::uint8_t>(raw[static_cast<std::size_t>(i)]);
                double d;
                std::memcpy(&d, &bits, 8);
                push(value::make_float(d));
                break;
            }

            case STRING: push(py2_string(unquote(c_.line("STRING")))); break;
            case BINSTRING: {
                const auto n = static_cast<std::int32_t>(c_.u32("BINSTRING"));
                if (n < 0) bad("BINSTRING with a negative length");
                push(py2_string(c_.take_text(static_cast<std::uint64_t>(n), "BINSTRING")));
                break;
            }
            case SHORT_BINSTRING: push(py2_string(c_.take_text(c_.u8("SHORT_BINSTRING"), "SHORT_BINSTRING"))); break;
            case UNICODE: push(make_string(nodes_, raw_unicode_escape(c_.line("UNICODE")))); break;
            case BINUNICODE: push(text_value(c_.take_text(c_.u32("BINUNICODE"), "BINUNICODE"), "BINUNICODE")); break;
            case SHORT_BINUNICODE: push(text_value(c_.take_text(c_.u8("SHORT_BINUNICODE"), "SHORT_BINUNICODE"), "SHORT_BINUNICODE")); break;
            case BINUNICODE8: push(text_value(c_.take_text(c_.u64("BINUNICODE8"), "BINUNICODE8"), "BINUNICODE8")); break;
            case BINBYTES: push(binbytes(c_.u32("BINBYTES"), "BINBYTES")); break;
            case SHORT_BINBYTES: push(make_string(nodes_, std::string(c_.take_text(c_.u8("SHORT_BINBYTES"), "SHORT_BINBYTES")), kind::bytes)); break;
            case BINBYTES8: push(binbytes(c_.u64("BINBYTES8"), "BINBYTES8")); break;
            case BYTEARRAY8: {
                auto b = make_string(nodes_, std::string(c_.take_text(c_.u64("BYTEARRAY8"), "BYTEARRAY8")), kind::bytes);
                arena::mut(b).name = "builtins.bytearray";
                push(b);
                break;
            }

            case EMPTY_LIST: push(make_list({}, kind::list)); break;
            case EMPTY_TUPLE: push(make_list({}, kind::tuple)); break;
            case EMPTY_SET: push(make_list({}, kind::set)); break;
            case EMPTY_DICT: push(make_dict_node()); break;
            case LIST: push(make_list(pop_mark("LIST"), kind::list)); break;
            case TUPLE: push(make_list(pop_mark("TUPLE"), kind::tuple)); break;
            case FROZENSET: {
                auto fs = make_list(pop_mark("FROZENSET"), kind::set);
                arena::mut(fs).name = "builtins.frozenset";
                push(fs);
                break;
            }
            case TUPLE1: {
                auto a = pop("TUPLE1");
                push(make_list({a}, kind::tuple));
                break;
            }
            case TUPLE2: {
                auto b = pop("TUPLE2");
                auto a = pop("TUPLE2");
                push(make_list({a, b}, kind::tuple));
                break;
            }
            case TUPLE3: {
                auto c3 = pop("TUPLE3");
                auto b = pop("TUPLE3");
                auto a = pop("TUPLE3");
                push(make_list({a, b, c3}, kind::tuple));
                break;
            }
            case DICT: {
                auto kv = pop_mark("DICT");
                auto d = make_dict_node();
                set_items(d, std::move(kv), "DICT");
                push(d);
                break;
            }
            case APPEND: {
                auto v = pop("APPEND");
                append_to(top("APPEND"), {v}, "APPEND");
                break;
            }
            case APPENDS: {
                auto items = pop_mark("APPENDS");
                append_to(top("APPENDS"), std::move(items), "APPENDS");
                break;
            }
            case ADDITEMS: {
                auto items = pop_mark("ADDITEMS");
                auto& t = top("ADDITEMS");
                if (t.type() != kind::set) bad("ADDITEMS on a " + std::string(to_string(t.type())) + ", not a set");
                auto& n = arena::mut(t);
                for (const auto& i : items) deepen(n, i);
                n.items.insert(n.items.end(), items.begin(), items.end());
                break;
            }
            case SETITEM: {
                auto v = pop("SETITEM");
                auto k = pop("SETITEM");
                set_items(top("SETITEM"), {k, v}, "SETITEM");
                break;
            }
            case SETITEMS: {
                auto kv = pop_mark("SETITEMS");
                set_items(top("SETITEMS"), std::move(kv), "SETITEMS");
                break;
            }

            case PUT: memo_put(memo_index_text(), top("PUT")); break;
            case BINPUT: memo_put(c_.u8("BINPUT"), top("BINPUT")); break;
            case LONG_BINPUT: memo_put(c_.u32("LONG_BINPUT"), top("LONG_BINPUT")); break;
            case MEMOIZE: memo_put(memo_count_, top("MEMOIZE")); break;  // len(memo), as Python
            case GET: push(memo_get(memo_index_text())); break;
            case BINGET: push(memo_get(c_.u8("BINGET"))); break;
            case LONG_BINGET: push(memo_get(c_.u32("LONG_BINGET"))); break;

            case GLOBAL: {
                const auto module = global_part(c_.line("GLOBAL module"), "module");
                const auto name = global_part(c_.line("GLOBAL name"), "name");
                push(r_.global(module, name, at_));
                break;
            }
            case STACK_GLOBAL: {
                auto name = pop("STACK_GLOBAL");
                auto module = pop("STACK_GLOBAL");
                if (!name.is(kind::string) || !module.is(kind::string))
                    bad("STACK_GLOBAL needs two strings");
                push(r_.global(global_part(module.as_string(), "module"),
                               global_part(name.as_string(), "name"), at_));
                break;
            }
            case REDUCE: {
                auto args = pop("REDUCE");
                auto fn = pop("REDUCE");
                if (!args.is(kind::tuple)) bad("REDUCE arguments are a " + std::string(to_string(args.type())) + ", not a tuple");
                push(r_.reduce(fn, args, at_));
                break;
            }
            case NEWOBJ: {
                auto args = pop("NEWOBJ");
                auto cls = pop("NEWOBJ");
                if (!args.is(kind::tuple)) bad("NEWOBJ arguments are not a tuple");
                push(r_.instantiate(cls, args, at_));
                break;
            }
            case NEWOBJ_EX: {
                auto kwargs = pop("NEWOBJ_EX");
                auto args = pop("NEWOBJ_EX");
                auto cls = pop("NEWOBJ_EX");
                if (!args.is(kind::tuple)) bad("NEWOBJ_EX arguments are not a tuple");
                auto obj = r_.instantiate(cls, args, at_);
                if (obj.is(kind::object) && kwargs.is(kind::dict) && kwargs.size() > 0)
                    arena::mut(obj).state = kwargs;
                push(obj);
                break;
            }
            case INST: {
                const auto module = global_part(c_.line("INST module"), "module");
                const auto name = global_part(c_.line("INST name"), "name");
                auto items = pop_mark("INST");
                auto cls = r_.global(module, name, at_);
                push(r_.instantiate(cls, make_tuple(nodes_, std::move(items)), at_));
                break;
            }
            case OBJ: {
                auto items = pop_mark("OBJ");
                if (items.empty()) bad("OBJ without a class");
                auto cls = items.front();
                items.erase(items.begin());
                push(r_.instantiate(cls, make_tuple(nodes_, std::move(items)), at_));
                break;
            }
            case BUILD: {
                auto state = pop("BUILD");
                r_.build(top("BUILD"), state, at_);
                break;
            }
            case PERSID: push(r_.persistent(make_string(nodes_, std::string(c_.line("PERSID"))), at_)); break;
            case BINPERSID: {
                auto pid = pop("BINPERSID");
                push(r_.persistent(pid, at_));
                break;
            }

            case EXT1: case EXT2: case EXT4:
                fail(errc::unknown_opcode, "the extension registry (EXT1/EXT2/EXT4) is not supported");
            case NEXT_BUFFER: case READONLY_BUFFER:
                fail(errc::unknown_opcode, "out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER) are not supported");
            default: {
                char buf[48];
                std::snprintf(buf, sizeof buf, "unknown opcode 0x%02x", opcode);
                fail(errc::unknown_opcode, buf);
            }
        }
    }
}

}  // namespace

result run(cursor& c, arena& nodes, resolver& r, const limits& caps) {
    machine m(c, nodes, r, caps);
    return m.run();
}

value make_string(arena& nodes, std::string text, kind k) {
    auto& n = nodes.make(k);
    n.text = std::move(text);
    return value::make_node(k, &n);
}

value make_tuple(arena& nodes, std::vector<value> items) {
    auto& n = nodes.make(kind::tuple);
    for (const auto& i : items) n.depth = std::max(n.depth, depth_through(i));
    n.items = std::move(items);
    return value::make_node(kind::tuple, &n);
}

value make_object(arena& nodes, std::string_view module, std::string_view name,
                  value::origin origin, value args) {
    auto& n = nodes.make(kind::object);
    n.text.reserve(module.size() + 1 + name.size());
    n.text.append(module).append(".").append(name);
    n.name = std::string(name);
    n.origin = origin;
    n.args = args;
    n.depth = depth_through(args);
    return value::make_node(kind::object, &n);
}

}  // namespace ptio::detail::pickle

namespace ptio::detail {

void arena::grow() {
    chunks_.reserve(chunks_.size() + 1);  // so push_back cannot throw after the allocation
    const std::size_t want = chunks_.empty() ? first_chunk_nodes : chunks_.back().capacity * 2;
    if (want * sizeof(node) < big_chunk_bytes) {
        void* p = std::malloc(want * sizeof(node));
        if (!p) throw std::bad_alloc();
        chunks_.push_back({static_cast<node*>(p), 0, want});
        return;
    }
    void* p = std::aligned_alloc(big_chunk_bytes, big_chunk_bytes);
    if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    (void)::madvise(p, big_chunk_bytes, MADV_HUGEPAGE);  // a hint; without THP it does nothing
#endif
    chunks_.push_back({static_cast<node*>(p), 0, big_chunk_bytes / sizeof(node)});
}

arena::~arena() {
    for (auto& c : chunks_) {
        for (std::size_t i = 0; i < c.used; ++i) c.nodes[i].~node();
        std::free(c.nodes);
    }
}

}  // namespace ptio::detail
