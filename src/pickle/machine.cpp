// The dispatch loop: one opcode at a time onto a stack of values, every length and count
// capped before it allocates. Literal forms are read by pickle/literals, nodes made by
// pickle/node, and everything that would run code in Python is the resolver's to answer.
#include "pickle/machine.hpp"

#include <algorithm>
#include <cstdio>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "core/text.hpp"
#include "pickle/frames.hpp"
#include "pickle/literals.hpp"
#include "pickle/memo.hpp"
#include "pickle/opcodes.hpp"

namespace ptio::detail::pickle {
namespace {

using va = value_access;

class machine {
public:
    machine(cursor& c, arena& nodes, resolver& r, const limits& caps)
        : c_(c), nodes_(nodes), r_(r), caps_(caps),
          memo_(std::min<std::size_t>(c.remaining() / 8, memo_reserve), caps.max_memo) {
        stack_.reserve(64);
    }

    result run();
    [[noreturn]] void fail(errc code, const std::string& what) const { c_.fail_at(code, at_, what); }

private:
    // The memo grows as it is filled (each slot charged); reserving for what the pickle's
    // size suggests would let a large inflated pickle claim memory it never uses.
    static constexpr std::size_t memo_reserve = 4096;
    // What one slot costs the tree's budget: the stack's and the mark stack's, a memo
    // entry's (a map node where the index is sparse), a dict entry's (and its key index).
    static constexpr std::uint64_t memo_slot_bytes = 64;
    static constexpr std::uint64_t dict_slot_bytes = sizeof(value::entry) + 48;

    [[nodiscard]] opcode_site here() const noexcept { return {c_, at_}; }
    // A stack is charged once per slot it ever reaches: popped slots are reused.
    void charge_high(std::size_t size, std::size_t& high, std::uint64_t each) {
        if (size < high) return;
        nodes_.charge(each);
        ++high;
    }
    [[noreturn]] void bad(const std::string& what) const { fail(errc::bad_pickle, what); }

    void push(value v) {
        if (stack_.size() >= caps_.max_stack)
            fail(errc::limit_exceeded, "the unpickler stack passes its cap of " +
                                           std::to_string(caps_.max_stack) + " values");
        charge_high(stack_.size(), stack_high_, sizeof(value));
        stack_.push_back(v);
    }
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
    [[nodiscard]] std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    // The values above the last MARK (or the top `n`), handed to `use` in place, then popped
    // (no copy: TUPLE, LIST and SETITEMS run once or more per tensor). `use` may return a value.
    template <class F>
    value with_mark(const char* opname, F&& use) {
        if (marks_.empty()) bad(std::string(opname) + " without a MARK");
        const std::size_t m = marks_.back();
        value r = call(use, std::span<const value>(stack_.data() + m, stack_.size() - m));
        marks_.pop_back();
        stack_.resize(m);
        return r;
    }
    template <class F>
    value with_top(std::size_t n, const char* opname, F&& use) {
        if (stack_.size() < floor() + n) bad(std::string(opname) + " on an empty stack");
        value r = call(use, std::span<const value>(stack_.data() + stack_.size() - n, n));
        stack_.resize(stack_.size() - n);
        return r;
    }
    template <class F>
    static value call(F& use, std::span<const value> items) {
        if constexpr (std::is_void_v<decltype(use(items))>) return use(items), value{}; else return use(items);
    }
    // The value just below the last MARK: what APPENDS, ADDITEMS and SETITEMS add to.
    value& below_mark(const char* opname) {
        const std::size_t m = marks_.back();
        const std::size_t under = marks_.size() > 1 ? marks_[marks_.size() - 2] : 0;
        if (m <= under) bad(std::string(opname) + " on an empty stack");
        return stack_[m - 1];
    }

    // str and bytes that need no decoding are views of the pickle where the arena may view it
    // (an inflated copy), else copies; a numpy array's data (large bytes) is always a view,
    // which its tensor reads through the guards.
    static constexpr std::size_t view_bytes_from = 4096;
    value binbytes(std::uint64_t n, const char* what) {
        const auto span = c_.take(n, what);
        const std::string_view text(reinterpret_cast<const char*>(span.data()), span.size());
        if (span.size() < view_bytes_from) return make_string_view(nodes_, text, kind::bytes);
        auto& node = nodes_.make(kind::bytes);
        node.text = node_text::kept(text);
        return va::make_node(kind::bytes, &node);
    }
    value bytearray(std::string_view bytes) {
        auto v = make_string_view(nodes_, bytes, kind::bytes);
        nodes_.mut(v).name = "builtins.bytearray";
        return v;
    }

    // Big integers are kept as digits and turned into decimal on demand; LONG1 and LONG4
    // past this cap are refused (their text forms have literals' own cap).
    static constexpr std::size_t max_int_bytes = 4096;
    value int_from_digits(std::span<const std::byte> digits) {
        if (digits.size() > max_int_bytes)
            fail(errc::limit_exceeded, "an integer of " + std::to_string(digits.size()) +
                                           " bytes, over the cap of " + std::to_string(max_int_bytes));
        if (const auto small = text::twos_to_int64(digits)) return va::make_int(*small);
        return make_string(nodes_, std::string(reinterpret_cast<const char*>(digits.data()), digits.size()),
                           kind::big_integer);
    }
    value int_from_text(std::string_view t) {
        auto parsed = parse_int(t, here());
        if (const auto* small = std::get_if<std::int64_t>(&parsed)) return va::make_int(*small);
        const auto& digits = std::get<std::string>(parsed);
        return int_from_digits({reinterpret_cast<const std::byte*>(digits.data()), digits.size()});
    }
    value text_value(std::string_view raw, const char* opname) {
        if (!text::valid_utf8(raw)) bad(std::string(opname) + ": a string that is not valid UTF-8");
        return make_string_view(nodes_, raw);
    }
    void memo_put(std::uint64_t idx, const value& v) {
        if (memo_.get(idx) == nullptr) nodes_.charge(memo_slot_bytes);
        if (!memo_.put(idx, v))
            fail(errc::limit_exceeded, "the memo passes its cap of " + std::to_string(caps_.max_memo));
    }
    value memo_get(std::uint64_t idx) {
        if (const value* v = memo_.get(idx)) return *v;
        bad("memo entry " + std::to_string(idx) + " was never stored");
    }
    std::uint64_t memo_index_text() { return parse_memo_index(c_.line("memo index"), here()); }
    // Nesting is capped here, where the offset is known, for trees built bottom-up (the
    // usual attack); the tensor walk after unpickling caps whatever mutation builds later.
    void deepen(node& n, const value& child) {
        const std::uint32_t d = depth_through(child);
        if (d > n.depth) {
            if (d > caps_.max_depth)
                fail(errc::limit_exceeded, "containers nest deeper than the cap of " +
                                               std::to_string(caps_.max_depth));
            n.depth = d;
        }
    }
    void add_items(value& target, std::span<const value> items) {
        nodes_.charge(items.size(), sizeof(value));
        auto& n = nodes_.mut(target);
        for (const auto& i : items) deepen(n, i);
        nodes_.append(n.items, items);
    }
    // APPEND and SETITEM on a class itself, not an instance, would change the class for
    // every later user of it (the CVE-2026-24747 shape): refused whatever the mode.
    void refuse_global_target(const value& target, const char* opname) {
        if (target.is(kind::object) && target.object_origin() == value::origin::global)
            fail(errc::unsafe_global, std::string(opname) + " on the global " + std::string(target.module()) +
                                          "." + std::string(target.name()) + ", a class or function, not an instance");
    }
    void append_to(value& target, std::span<const value> items, const char* opname) {
        if (target.type() != kind::list && target.type() != kind::object)
            bad(std::string(opname) + " on a " + std::string(to_string(target.type())) + ", not a list");
        refuse_global_target(target, opname);
        add_items(target, items);
    }
    void set_items(value& target, std::span<const value> kv, const char* opname) {
        if (target.type() != kind::dict && target.type() != kind::object)
            bad(std::string(opname) + " on a " + std::string(to_string(target.type())) + ", not a dict");
        refuse_global_target(target, opname);
        if (kv.size() % 2) bad(std::string(opname) + " with an odd number of items");
        nodes_.charge(kv.size() / 2, dict_slot_bytes);
        auto& n = nodes_.mut(target);
        for (std::size_t i = 0; i < kv.size(); i += 2) {
            deepen(n, kv[i]);
            deepen(n, kv[i + 1]);
            set_item(nodes_, n, kv[i], kv[i + 1]);
        }
    }
    value make_dict() {
        auto& n = nodes_.make(kind::dict);
        n.name = "dict";
        return va::make_node(kind::dict, &n);
    }
    value make_list(std::span<const value> items, kind k, const char* class_name = nullptr) {
        // () is one object in Python; tuples never change, so one node serves every EMPTY_TUPLE.
        if (k == kind::tuple && items.empty() && !class_name && !empty_tuple_.is_none()) return empty_tuple_;
        nodes_.charge(items.size(), sizeof(value));
        auto& n = nodes_.make(k);
        if (class_name) n.name = node_text::kept(class_name);
        for (const auto& i : items) deepen(n, i);
        nodes_.assign(n.items, items);
        const value v = va::make_node(k, &n);
        if (k == kind::tuple && items.empty() && !class_name) empty_tuple_ = v;
        return v;
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
    std::size_t stack_high_ = 0;  // the most slots the stack has held
    std::vector<std::size_t> marks_;
    std::size_t marks_high_ = 0;
    pickle::frames frames_;
    pickle::memo memo_;
    value empty_tuple_;  // the one () node, once made
};

result machine::run() {
    using enum opcode;
    result res;
    for (;;) {
        frames_.next_opcode(c_);
        at_ = c_.absolute();
        const std::uint8_t byte = c_.u8("opcode");
        switch (static_cast<opcode>(byte)) {
            case PROTO: {
                const int p = c_.u8("PROTO");
                if (p > 5) bad("unsupported pickle protocol " + std::to_string(p));
                res.protocol = p;
                break;
            }
            case FRAME: frames_.enter(c_, at_, c_.u64("FRAME")); break;
            case STOP: {
                if (stack_.empty()) bad("STOP with an empty stack");
                res.root = stack_.back();
                res.end = c_.position();
                return res;
            }
            case MARK:
                if (marks_.size() >= caps_.max_stack) fail(errc::limit_exceeded, "too many open MARKs");
                charge_high(marks_.size(), marks_high_, sizeof(std::size_t));
                marks_.push_back(stack_.size());
                break;
            case POP:
                if (!marks_.empty() && marks_.back() == stack_.size()) marks_.pop_back();
                else (void)pop("POP");
                break;
            case POP_MARK: (void)with_mark("POP_MARK", [](auto) {}); break;
            case DUP: push(top("DUP")); break;

            case NONE: push({}); break;
            case NEWTRUE: push(va::make_bool(true)); break;
            case NEWFALSE: push(va::make_bool(false)); break;
            case BININT: push(va::make_int(static_cast<std::int32_t>(c_.u32("BININT")))); break;
            case BININT1: push(va::make_int(c_.u8("BININT1"))); break;
            case BININT2: push(va::make_int(c_.u16("BININT2"))); break;
            case INT: {  // protocol 0 spells booleans as INT 00 and 01
                const auto t = c_.line("INT");
                if (t == "00") push(va::make_bool(false));
                else if (t == "01") push(va::make_bool(true));
                else push(int_from_text(t));
                break;
            }
            case LONG: push(int_from_text(c_.line("LONG"))); break;
            case LONG1: push(int_from_digits(c_.take(c_.u8("LONG1"), "LONG1"))); break;
            case LONG4: {
                const auto n = static_cast<std::int32_t>(c_.u32("LONG4"));
                if (n < 0) bad("LONG4 with a negative length");
                push(int_from_digits(c_.take(static_cast<std::uint64_t>(n), "LONG4")));
                break;
            }
            case FLOAT: push(va::make_float(parse_float(c_.line("FLOAT"), here()))); break;
            case BINFLOAT: push(va::make_float(binfloat(c_.take(8, "BINFLOAT")))); break;

            case STRING: push(make_string(nodes_, py2_text(unquote(c_.line("STRING"), here())))); break;
            case BINSTRING: {
                const auto n = static_cast<std::int32_t>(c_.u32("BINSTRING"));
                if (n < 0) bad("BINSTRING with a negative length");
                push(make_string(nodes_, py2_text(c_.take_text(static_cast<std::uint64_t>(n), "BINSTRING"))));
                break;
            }
            case SHORT_BINSTRING:
                push(make_string(nodes_, py2_text(c_.take_text(c_.u8("SHORT_BINSTRING"), "SHORT_BINSTRING"))));
                break;
            case UNICODE: push(make_string(nodes_, raw_unicode_escape(c_.line("UNICODE"), here()))); break;
            case BINUNICODE: push(text_value(c_.take_text(c_.u32("BINUNICODE"), "BINUNICODE"), "BINUNICODE")); break;
            case SHORT_BINUNICODE:
                push(text_value(c_.take_text(c_.u8("SHORT_BINUNICODE"), "SHORT_BINUNICODE"), "SHORT_BINUNICODE"));
                break;
            case BINUNICODE8: push(text_value(c_.take_text(c_.u64("BINUNICODE8"), "BINUNICODE8"), "BINUNICODE8")); break;
            case BINBYTES: push(binbytes(c_.u32("BINBYTES"), "BINBYTES")); break;
            case SHORT_BINBYTES:
                push(make_string(nodes_, std::string(c_.take_text(c_.u8("SHORT_BINBYTES"), "SHORT_BINBYTES")), kind::bytes));
                break;
            case BINBYTES8: push(binbytes(c_.u64("BINBYTES8"), "BINBYTES8")); break;
            case BYTEARRAY8: push(bytearray(c_.take_text(c_.u64("BYTEARRAY8"), "BYTEARRAY8"))); break;

            case EMPTY_LIST: push(make_list({}, kind::list)); break;
            case EMPTY_TUPLE: push(make_list({}, kind::tuple)); break;
            case EMPTY_SET: push(make_list({}, kind::set)); break;
            case EMPTY_DICT: push(make_dict()); break;
            case LIST: push(with_mark("LIST", [&](auto items) { return make_list(items, kind::list); })); break;
            case TUPLE: push(with_mark("TUPLE", [&](auto items) { return make_list(items, kind::tuple); })); break;
            case FROZENSET: push(with_mark("FROZENSET", [&](auto items) { return make_list(items, kind::set, "builtins.frozenset"); })); break;
            case TUPLE1: push(with_top(1, "TUPLE1", [&](auto items) { return make_list(items, kind::tuple); })); break;
            case TUPLE2: push(with_top(2, "TUPLE2", [&](auto items) { return make_list(items, kind::tuple); })); break;
            case TUPLE3: push(with_top(3, "TUPLE3", [&](auto items) { return make_list(items, kind::tuple); })); break;
            case DICT: {
                auto d = make_dict();
                with_mark("DICT", [&](auto kv) { set_items(d, kv, "DICT"); });
                push(d);
                break;
            }
            case APPEND: {
                auto v = pop("APPEND");
                append_to(top("APPEND"), std::span<const value>(&v, 1), "APPEND");
                break;
            }
            // The target sits below the mark, so it stays put while the items are read.
            case APPENDS: with_mark("APPENDS", [&](auto items) { append_to(below_mark("APPENDS"), items, "APPENDS"); }); break;
            case ADDITEMS:
                with_mark("ADDITEMS", [&](auto items) {
                    auto& t = below_mark("ADDITEMS");
                    if (t.type() != kind::set) bad("ADDITEMS on a " + std::string(to_string(t.type())) + ", not a set");
                    add_items(t, items);
                });
                break;
            case SETITEM:
                with_top(2, "SETITEM", [&](auto kv) {
                    if (stack_.size() < floor() + 3) bad("SETITEM on an empty stack");
                    set_items(stack_[stack_.size() - 3], kv, "SETITEM");
                });
                break;
            case SETITEMS: with_mark("SETITEMS", [&](auto kv) { set_items(below_mark("SETITEMS"), kv, "SETITEMS"); }); break;

            case PUT: memo_put(memo_index_text(), top("PUT")); break;
            case BINPUT: memo_put(c_.u8("BINPUT"), top("BINPUT")); break;
            case LONG_BINPUT: memo_put(c_.u32("LONG_BINPUT"), top("LONG_BINPUT")); break;
            case MEMOIZE: memo_put(memo_.size(), top("MEMOIZE")); break;  // len(memo), as Python
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
                    nodes_.mut(obj).state = kwargs;
                push(obj);
                break;
            }
            case INST: {
                const auto module = global_part(c_.line("INST module"), "module");
                const auto name = global_part(c_.line("INST name"), "name");
                push(with_mark("INST", [&](auto items) {
                    auto cls = r_.global(module, name, at_);
                    return r_.instantiate(cls, make_tuple(nodes_, {items.begin(), items.end()}), at_);
                }));
                break;
            }
            case OBJ: {
                push(with_mark("OBJ", [&](auto items) {
                    if (items.empty()) bad("OBJ without a class");
                    return r_.instantiate(items[0], make_tuple(nodes_, {items.begin() + 1, items.end()}), at_);
                }));
                break;
            }
            case BUILD: {
                auto state = pop("BUILD");
                r_.build(top("BUILD"), state, at_);
                break;
            }
            case PERSID: push(r_.persistent(make_string(nodes_, std::string(c_.line("PERSID"))), at_)); break;
            case BINPERSID: push(r_.persistent(pop("BINPERSID"), at_)); break;

            case EXT1: case EXT2: case EXT4:
                fail(errc::unknown_opcode, "the extension registry (EXT1/EXT2/EXT4) is not supported");
            case NEXT_BUFFER: case READONLY_BUFFER:
                fail(errc::unknown_opcode, "out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER) are not supported");
            default: {
                char buf[48];
                std::snprintf(buf, sizeof buf, "unknown opcode 0x%02x", byte);
                fail(errc::unknown_opcode, buf);
            }
        }
    }
}

}  // namespace

result run(cursor& c, arena& nodes, resolver& r, const limits& caps) {
    machine m(c, nodes, r, caps);
    // The tree's budget is the arena's, charged wherever the file makes the tree grow (here
    // and in the resolver); what it throws is given the opcode's offset here.
    try {
        return m.run();
    } catch (const over_budget& e) {
        m.fail(errc::limit_exceeded, e.detail());
    } catch (const std::bad_alloc&) {
        m.fail(errc::limit_exceeded, "out of memory building the unpickled tree (lower the caps in "
                                     "ptio::limits to refuse such a file sooner)");
    }
}

}  // namespace ptio::detail::pickle
