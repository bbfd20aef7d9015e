// Each call writes its opcode's bytes as CPython's protocol-2 pickler would, so the output
// is what torch.load (weights_only or not) reads without surprise.
#include "pickle/pickler.hpp"

#include "core/text.hpp"
#include "pickle/opcodes.hpp"

#include <bit>
#include <cstring>

#include "ptio/error.hpp"

namespace ptio::detail::pickle {
namespace {

// Python 3 → Python 2 names, the reverse of the compat table the unpickler applies
// (CPython's _compat_pickle.REVERSE_IMPORT_MAPPING, the entries checkpoints meet).
std::string_view py2_module(std::string_view m) noexcept {
    if (m == "builtins") return "__builtin__";
    if (m == "copyreg") return "copy_reg";
    if (m == "pickle") return "cPickle";
    return m;
}

}  // namespace

pickler::pickler() {
    op(opcode::PROTO);
    le(2, 1);
}

void pickler::le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
}

void pickler::raw(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
}

void pickler::none() { op(opcode::NONE); }
void pickler::boolean(bool b) { op(b ? opcode::NEWTRUE : opcode::NEWFALSE); }

void pickler::integer(std::int64_t i) {
    if (i >= 0 && i <= 0xFF) {
        op(opcode::BININT1);
        le(static_cast<std::uint64_t>(i), 1);
    } else if (i >= 0 && i <= 0xFFFF) {
        op(opcode::BININT2);
        le(static_cast<std::uint64_t>(i), 2);
    } else if (i >= INT32_MIN && i <= INT32_MAX) {
        op(opcode::BININT);
        le(static_cast<std::uint64_t>(static_cast<std::uint32_t>(static_cast<std::int32_t>(i))), 4);
    } else {
        std::byte b[8];
        const auto u = static_cast<std::uint64_t>(i);
        for (int k = 0; k < 8; ++k) b[k] = static_cast<std::byte>((u >> (8 * k)) & 0xFF);
        long_bytes(b);
    }
}

void pickler::long_bytes(std::span<const std::byte> v) {
    // Python's encode_long: the shortest two's-complement form.
    std::size_t n = v.size();
    while (n > 1) {
        const auto top = std::to_integer<unsigned>(v[n - 1]);
        const auto next_sign = std::to_integer<unsigned>(v[n - 2]) & 0x80;
        if ((top == 0x00 && next_sign == 0) || (top == 0xFF && next_sign != 0))
            --n;
        else
            break;
    }
    if (n == 1 && std::to_integer<unsigned>(v[0]) == 0) n = 0;  // 0 is LONG1 with no bytes
    if (n <= 0xFF) {
        op(opcode::LONG1);
        le(n, 1);
    } else {
        if (n > 0x7FFFFFFF) throw error(errc::invalid_argument, "an int too large to pickle");
        op(opcode::LONG4);
        le(n, 4);
    }
    out_.insert(out_.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
}

void pickler::floating(double f) {
    op(opcode::BINFLOAT);
    const auto u = std::bit_cast<std::uint64_t>(f);
    for (int k = 7; k >= 0; --k) out_.push_back(static_cast<std::byte>((u >> (8 * k)) & 0xFF));
}

void pickler::string(std::string_view s) {
    if (!text::valid_utf8(s))
        throw error(errc::invalid_argument, "a str to save is not valid UTF-8");
    if (s.size() > 0xFFFFFFFFu) throw error(errc::invalid_argument, "a str over 4 GiB");
    op(opcode::BINUNICODE);
    le(s.size(), 4);
    raw(s);
}

void pickler::global(std::string_view module, std::string_view name) {
    if (module.find('\n') != std::string_view::npos || name.find('\n') != std::string_view::npos ||
        module.empty() || name.empty())
        throw error(errc::invalid_argument, "a global name must be non-empty and one line: '" +
                                                std::string(module) + "." + std::string(name) + "'");
    std::string key = std::string(py2_module(module)) + "\n" + std::string(name) + "\n";
    if (auto it = globals_.find(key); it != globals_.end()) {
        get(it->second);
        return;
    }
    op(opcode::GLOBAL);
    raw(key);
    globals_.emplace(std::move(key), put());
}

void pickler::mark() { op(opcode::MARK); }
void pickler::empty_tuple() { op(opcode::EMPTY_TUPLE); }
void pickler::tuple_small(std::size_t n) {
    static constexpr opcode ops[] = {opcode::EMPTY_TUPLE, opcode::TUPLE1, opcode::TUPLE2, opcode::TUPLE3};
    if (n > 3) throw error(errc::invalid_argument, "tuple_small: more than 3 items");
    op(ops[n]);
}
void pickler::tuple_from_mark() { op(opcode::TUPLE); }
void pickler::empty_list() { op(opcode::EMPTY_LIST); }
void pickler::append() { op(opcode::APPEND); }
void pickler::appends() { op(opcode::APPENDS); }
void pickler::empty_dict() { op(opcode::EMPTY_DICT); }
void pickler::setitem() { op(opcode::SETITEM); }
void pickler::setitems() { op(opcode::SETITEMS); }
void pickler::reduce() { op(opcode::REDUCE); }
void pickler::newobj() { op(opcode::NEWOBJ); }
void pickler::build() { op(opcode::BUILD); }
void pickler::binpersid() { op(opcode::BINPERSID); }

std::uint32_t pickler::put() {
    const std::uint32_t i = next_memo_++;
    if (i <= 0xFF) {
        op(opcode::BINPUT);
        le(i, 1);
    } else {
        op(opcode::LONG_BINPUT);
        le(i, 4);
    }
    return i;
}

void pickler::pop() { op(opcode::POP); }

void pickler::get(std::uint32_t i) {
    if (i <= 0xFF) {
        op(opcode::BINGET);
        le(i, 1);
    } else {
        op(opcode::LONG_BINGET);
        le(i, 4);
    }
}

std::vector<std::byte> pickler::finish() {
    op(opcode::STOP);
    return std::move(out_);
}

}  // namespace ptio::detail::pickle
