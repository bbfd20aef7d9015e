// The opcode scan: each opcode's stack effect, with strings kept so STACK_GLOBAL can be
// named. Argument sizes are read through the cursor, so a length past the end is truncated.
#include "pickle/scan.hpp"

#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "pickle/opcodes.hpp"

namespace ptio::detail::pickle {
namespace {

struct item {
    enum class what : std::uint8_t { other, text, mark, global } k = what::other;
    std::string_view text;  // a string's text; a global's module
    std::string_view name;  // a global's name
};

class scanner {
public:
    scanner(cursor& c, std::vector<scanned_global>& found, const limits& caps, arena& costs)
        : c_(c), found_(found), caps_(caps), costs_(costs) {}

    void run() {
        for (;;) {
            at_ = c_.absolute();
            const auto op = static_cast<opcode>(c_.u8("an opcode"));
            try {
                if (step(op)) return;
            } catch (const over_budget& e) {  // the same cap open would meet, at this opcode
                c_.fail_at(errc::limit_exceeded, at_, "scanning it: " + e.detail());
            }
        }
    }

private:
    using K = item::what;

    void push(item i) {
        if (stack_.size() >= caps_.max_stack)
            c_.fail_at(errc::limit_exceeded, at_, "the scan's stack passes the cap of " + std::to_string(caps_.max_stack));
        if (stack_.size() == stack_.capacity()) costs_.charge(stack_.size() + 1, sizeof(item));
        stack_.push_back(i);
    }
    void other() { push({}); }
    void text(std::string_view t) { push({K::text, t, {}}); }
    item pop() {
        if (stack_.empty()) return {};  // lenient: what is unknown stays unknown
        item i = stack_.back();
        stack_.pop_back();
        return i;
    }
    void pop_n(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) (void)pop();
    }
    void pop_mark() {
        while (!stack_.empty()) {
            const bool mark = stack_.back().k == K::mark;
            stack_.pop_back();
            if (mark) return;
        }
    }
    void name(std::string_view module, std::string_view n) { keep(module, n, false); }
    // Each (module, name, kind) once, at its first offset: a pickle naming one class a
    // million times is one line of the report, not a million.
    void keep(std::string_view module, std::string_view n, bool on_class) {
        std::string key;
        key.reserve(module.size() + n.size() + 2);
        key.append(module).append("\n").append(n).push_back(on_class ? '1' : '0');
        if (seen_.contains(key)) return;
        costs_.charge(2 * key.size() + sizeof(scanned_global) + 64);
        found_.push_back({std::string(module), std::string(n), at_, on_class});
        seen_.insert(std::move(key));
    }
    // The global just named, as the stack's top (module "?" stays something else).
    void push_global(std::string_view module, std::string_view n) {
        if (module == "?") return other();
        push({K::global, module, n});
    }
    // SETITEM(S), APPEND(S) or BUILD whose target, now the top, is a class itself.
    void check_target() {
        if (!stack_.empty() && stack_.back().k == K::global)
            keep(stack_.back().text, stack_.back().name, true);
    }
    void memo_put(std::uint64_t idx) {
        if (memo_.size() >= caps_.max_memo && !memo_.contains(idx))
            c_.fail_at(errc::limit_exceeded, at_, "the scan's memo passes the cap of " + std::to_string(caps_.max_memo));
        auto [it, fresh] = memo_.try_emplace(idx);
        if (fresh) {
            try {
                costs_.charge(sizeof(item) + 32);  // the entry and its share of the table
            } catch (...) {
                memo_.erase(it);
                throw;
            }
        }
        it->second = stack_.empty() ? item{} : stack_.back();
    }
    void memo_get(std::uint64_t idx) {
        const auto it = memo_.find(idx);
        push(it == memo_.end() ? item{} : it->second);
    }
    std::uint64_t line_number(std::string_view what) {
        const auto l = c_.line(what);
        std::uint64_t v = 0;
        for (char ch : l)
            if (ch >= '0' && ch <= '9') v = v * 10 + static_cast<std::uint64_t>(ch - '0');
        return v;
    }

    // True at STOP.
    bool step(opcode op) {
        using enum opcode;
        switch (op) {
            case STOP: return true;
            case PROTO: (void)c_.u8("PROTO"); break;
            case FRAME: (void)c_.u64("FRAME"); break;
            case MARK: push({K::mark, {}, {}}); break;
            case NONE: case NEWTRUE: case NEWFALSE: case EMPTY_LIST: case EMPTY_DICT:
            case EMPTY_TUPLE: case EMPTY_SET: case NEXT_BUFFER: other(); break;
            case INT: case LONG: case FLOAT: (void)c_.line("a number"); other(); break;
            case BININT: (void)c_.u32("BININT"); other(); break;
            case BININT1: (void)c_.u8("BININT1"); other(); break;
            case BININT2: (void)c_.u16("BININT2"); other(); break;
            case BINFLOAT: (void)c_.u64("BINFLOAT"); other(); break;
            case LONG1: (void)c_.take(c_.u8("LONG1"), "LONG1"); other(); break;
            case LONG4: (void)c_.take(c_.u32("LONG4"), "LONG4"); other(); break;
            case STRING: case UNICODE: text(c_.line("a string")); break;
            case BINSTRING: case BINUNICODE: text(c_.take_text(c_.u32("a string"), "a string")); break;
            case SHORT_BINSTRING: case SHORT_BINUNICODE: text(c_.take_text(c_.u8("a string"), "a string")); break;
            case BINUNICODE8: text(c_.take_text(c_.u64("BINUNICODE8"), "BINUNICODE8")); break;
            case BINBYTES: (void)c_.take(c_.u32("BINBYTES"), "BINBYTES"); other(); break;
            case SHORT_BINBYTES: (void)c_.take(c_.u8("SHORT_BINBYTES"), "SHORT_BINBYTES"); other(); break;
            case BINBYTES8: case BYTEARRAY8: (void)c_.take(c_.u64("BINBYTES8"), "BINBYTES8"); other(); break;
            case GLOBAL: {
                const auto module = c_.line("GLOBAL module");
                const auto n = c_.line("GLOBAL name");
                name(module, n);
                push_global(module, n);
                break;
            }
            case INST: {
                const auto module = c_.line("INST module");
                name(module, c_.line("INST name"));
                pop_mark();
                other();
                break;
            }
            case STACK_GLOBAL: {
                const item n = pop();
                const item m = pop();
                const bool known = n.k == K::text && m.k == K::text;
                name(known ? m.text : "?", known ? n.text : "STACK_GLOBAL of values the scan cannot follow");
                if (known) push_global(m.text, n.text);
                else other();
                break;
            }
            case EXT1: name("?", "EXT1 " + std::to_string(c_.u8("EXT1"))); other(); break;
            case EXT2: name("?", "EXT2 " + std::to_string(c_.u16("EXT2"))); other(); break;
            case EXT4: name("?", "EXT4 " + std::to_string(c_.u32("EXT4"))); other(); break;
            case PERSID: (void)c_.line("PERSID"); other(); break;
            case BINPERSID: case TUPLE1: case READONLY_BUFFER: pop_n(1); other(); break;
            case TUPLE2: case REDUCE: case NEWOBJ: pop_n(2); other(); break;
            case TUPLE3: case NEWOBJ_EX: pop_n(3); other(); break;
            case TUPLE: case LIST: case DICT: case FROZENSET: case OBJ: pop_mark(); other(); break;
            case POP_MARK: case ADDITEMS: pop_mark(); break;
            case APPENDS: case SETITEMS: pop_mark(); check_target(); break;
            case POP: pop_n(1); break;
            case APPEND: case BUILD: pop_n(1); check_target(); break;
            case SETITEM: pop_n(2); check_target(); break;
            case DUP: push(stack_.empty() ? item{} : stack_.back()); break;
            case PUT: memo_put(line_number("PUT")); break;
            case BINPUT: memo_put(c_.u8("BINPUT")); break;
            case LONG_BINPUT: memo_put(c_.u32("LONG_BINPUT")); break;
            case MEMOIZE: memo_put(memo_.size()); break;
            case GET: memo_get(line_number("GET")); break;
            case BINGET: memo_get(c_.u8("BINGET")); break;
            case LONG_BINGET: memo_get(c_.u32("LONG_BINGET")); break;
            default:
                c_.fail_at(errc::unknown_opcode, at_,
                           "byte " + std::to_string(static_cast<unsigned>(op)) + " is no pickle opcode; the scan stops here");
        }
        return false;
    }

    cursor& c_;
    std::vector<scanned_global>& found_;
    const limits& caps_;
    arena& costs_;
    std::unordered_set<std::string> seen_;
    std::uint64_t at_ = 0;
    std::vector<item> stack_;
    std::unordered_map<std::uint64_t, item> memo_;
};

}  // namespace

void scan_globals(cursor& c, std::vector<scanned_global>& found, const limits& caps, arena& costs) {
    scanner(c, found, caps, costs).run();
}

}  // namespace ptio::detail::pickle
