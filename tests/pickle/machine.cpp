// The unpickler through checkpoint::open on hand-made archives: every protocol, memo
// semantics, dict replacement, opaque objects, and the refusals.
//
// The protocol table was produced by CPython 3.11's pickle.dumps of
//   {'a': [1, 2.5, 'x\u00e9', None, True, 2**70, -5, (1, 2)], 'b': b'\x00\xff', 'c': {1: 'one'}}
// with protocols 0..5 (bytes as hex), so each opcode family is exercised on real output.
#include <doctest/doctest.h>

#include <cmath>
#include <ptio/ptio.hpp>

#include "support/zip_builder.hpp"

using namespace std::string_literals;

namespace {

std::string unhex(std::string_view h) {
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out += static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16));
    return out;
}

ptio::checkpoint open_pickle(const std::string& pkl, ptio::open_options o = {}) {
    ptio_test::zip_builder z;
    z.add("archive/data.pkl", pkl);
    z.add("archive/version", "3\n");
    return ptio::checkpoint::open(z.finish(), o, "hand.pt");
}

ptio::errc code_of(const std::string& pkl, ptio::open_options o = {}) {
    try {
        (void)open_pickle(pkl, o);
    } catch (const ptio::error& e) {
        CHECK(std::string(e.what()).find("hand.pt: archive/data.pkl: ") == 0);
        return e.code();
    }
    FAIL("no error");
    return ptio::errc::invalid_argument;
}

struct proto_case {
    int protocol;
    const char* hex;
};
const proto_case protocols[] = {
    {0, "286470300a56610a70310a286c70320a49310a6146322e350a615678e90a70330a614e614930310a614c313138303539313632303731373431313330333432344c0a61492d350a612849310a49320a7470340a617356620a70350a635f636f646563730a656e636f64650a70360a28565c7530303030ff0a70370a566c6174696e310a70380a7470390a527031300a7356630a7031310a28647031320a49310a566f6e650a7031330a73732e"},
    {1, "7d71002858010000006171015d7102284b01474004000000000000580300000078c3a971034e4930310a4c313138303539313632303731373431313330333432344c0a4afbffffff284b014b02747104655801000000627105635f636f646563730a656e636f64650a710628580300000000c3bf710758060000006c6174696e31710874710952710a580100000063710b7d710c4b0158030000006f6e65710d73752e"},
    {2, "80027d71002858010000006171015d7102284b01474004000000000000580300000078c3a971034e888a090000000000000000404afbffffff4b014b02867104655801000000627105635f636f646563730a656e636f64650a7106580300000000c3bf710758060000006c6174696e31710886710952710a580100000063710b7d710c4b0158030000006f6e65710d73752e"},
    {3, "80037d71002858010000006171015d7102284b01474004000000000000580300000078c3a971034e888a090000000000000000404afbffffff4b014b02867104655801000000627105430200ff710658010000006371077d71084b0158030000006f6e65710973752e"},
    {4, "8004954e000000000000007d94288c0161945d94284b014740040000000000008c0378c3a9944e888a090000000000000000404afbffffff4b014b028694658c016294430200ff948c0163947d944b018c036f6e659473752e"},
    {5, "8005954e000000000000007d94288c0161945d94284b014740040000000000008c0378c3a9944e888a090000000000000000404afbffffff4b014b028694658c016294430200ff948c0163947d944b018c036f6e659473752e"},
};

}  // namespace

TEST_CASE("pickle: every protocol gives the same tree") {
    for (const auto& pc : protocols) {
        INFO("protocol " << pc.protocol);
        auto ck = open_pickle(unhex(pc.hex));
        const auto& root = ck.root();
        REQUIRE(root.is(ptio::kind::dict));
        REQUIRE(root.size() == 3);
        const auto a = root.get("a")->items();
        REQUIRE(a.size() == 8);
        CHECK(a[0].as_int() == 1);
        CHECK(a[1].as_float() == 2.5);
        CHECK(a[2].as_string() == "x\xc3\xa9");
        CHECK(a[3].is_none());
        CHECK(a[4].as_bool());
        CHECK(a[5].is(ptio::kind::big_integer));
        CHECK(a[5].int_text() == "1180591620717411303424");
        CHECK(a[6].as_int() == -5);
        REQUIRE(a[7].is(ptio::kind::tuple));
        CHECK(a[7].items()[1].as_int() == 2);
        const auto b = root.get("b")->as_bytes();
        REQUIRE(b.size() == 2);
        CHECK(b[1] == std::byte{0xff});
        const auto& c = *root.get("c");
        CHECK(c.entries()[0].first.as_int() == 1);
        CHECK(c.entries()[0].second.as_string() == "one");
        CHECK(ck.tensors().empty());
    }
}

TEST_CASE("pickle: memo, duplicate dict keys and big integers behave like Python") {
    // (x, x, {...}) where x = [] is memoized, and a dict whose second 'k' replaces the first.
    auto ck = open_pickle("\x80\x02(]q\x00h\x00}(X\x01\x00\x00\x00kK\x01X\x01\x00\x00\x00kK\x02ut."s);
    const auto items = ck.root().items();
    REQUIRE(items.size() == 3);
    CHECK(items[0].identity() == items[1].identity());  // the same list, as Python's memo
    const auto& d = items[2];
    REQUIRE(d.size() == 1);  // the second 'k' replaced the first in place
    CHECK(d.get("k")->as_int() == 2);
    // LONG1 of 9 bytes that still fits int64 is an int; negative big ints print right.
    auto n = open_pickle(std::string("\x80\x02\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff.", 14));
    CHECK(n.root().as_int() == -1);
    auto big = open_pickle(std::string("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xfe.", 14));
    CHECK(big.root().int_text() == "-36893488147419103232");
}

TEST_CASE("pickle: unknown classes stay opaque objects that keep tensors reachable") {
    // __main__.Net() with BUILD state {'w': <float tensor>}: the tensor is named 'w'.
    std::string pkl = ptio_test::tensor_dict_pickle("w", 4, 0, {4}, {1});
    pkl = "\x80\x02" "c__main__\nNet\n)\x81" + pkl.substr(2, pkl.size() - 3) + "b.";
    ptio_test::zip_builder z;
    z.add("archive/data.pkl", pkl);
    z.add("archive/data/0", std::string(16, '\0'));
    auto ck = ptio::checkpoint::open(z.finish(), {}, "net.pt");
    REQUIRE(ck.root().is(ptio::kind::object));
    CHECK(ck.root().class_name() == "__main__.Net");
    CHECK(ck.root().object_origin() == ptio::value::origin::instance);
    REQUIRE(ck.tensors().size() == 1);
    CHECK(ck.tensors()[0].name == "w");
    // weights_only refuses the same file, as torch does.
    try {
        (void)ptio::checkpoint::open(z.finish(), {.weights_only = true}, "net.pt");
        FAIL("weights_only accepted __main__.Net");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::forbidden_global);
    }
}

TEST_CASE("pickle: getattr(obj, name) is an object holding its target and the name, never a call") {
    // protocol 2's nested class or bound method: getattr(torch.Size, 'index'), as torch 1.13
    // reads it (the method itself); ptio keeps the call with its arguments.
    auto ck = open_pickle("\x80\x02" "c__builtin__\ngetattr\nctorch\nSize\nX\x05\x00\x00\x00index\x86R."s);
    REQUIRE(ck.root().is(ptio::kind::object));
    CHECK(ck.root().class_name() == "builtins.getattr");
    CHECK(ck.root().object_origin() == ptio::value::origin::call);
    REQUIRE(ck.root().args().size() == 2);
    CHECK(ck.root().args().items()[0].class_name() == "torch.Size");
    CHECK(ck.root().args().items()[1].as_string() == "index");
}

TEST_CASE("pickle: refusals raise the right errc") {
    using ptio::errc;
    CHECK(code_of("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00ls\x85R.") == errc::unsafe_global);
    CHECK(code_of("\x80\x02" "cbuiltins\neval\n.") == errc::unsafe_global);
    // getattr is one more opaque object, but a target that runs code is still refused
    CHECK(code_of("\x80\x02" "c__builtin__\ngetattr\ncos\nsystem\nX\x04\x00\x00\x00name\x86R."s) ==
          errc::unsafe_global);
    CHECK(code_of("\x80\x02" "c__builtin__\ngetattr\nctorch\nSize\nX\x05\x00\x00\x00index\x86R."s,
                  {.weights_only = true}) == errc::forbidden_global);
    CHECK(code_of("\x80\x02\xff.") == errc::unknown_opcode);
    CHECK(code_of("\x80\x02\x82\x01.") == errc::unknown_opcode);
    CHECK(code_of("\x80\x02" "a.") == errc::bad_pickle);
    CHECK(code_of("\x80\x02.") == errc::bad_pickle);
    CHECK(code_of("\x80\x02N") == errc::truncated);
    CHECK(code_of("\x80\x02X\xff\xff\xff\xff."s) == errc::truncated);
    CHECK(code_of(std::string("\x80\x02h\x05.", 5)) == errc::bad_pickle);
    CHECK(code_of("\x80\x02(X\x07\x00\x00\x00storageK\x01tQ."s) == errc::bad_storage);
    std::string deep = "\x80\x02";
    for (int i = 0; i < 5000; ++i) deep += "]";
    for (int i = 0; i < 4999; ++i) deep += "a";
    deep += ".";
    CHECK(code_of(deep) == errc::limit_exceeded);
    ptio::open_options small;
    small.caps.max_stack = 100;
    CHECK(code_of(std::string("\x80\x02") + std::string(200, 'N') + ".", small) == errc::limit_exceeded);
}

TEST_CASE("pickle: frozenset and bytearray keep their class") {
    // CPython 3.11 pickle.dumps({'fs': frozenset({2}), 'ba': bytearray(b'xy'), 's': {1},
    // 'b': b'q'}) with protocols 2 (REDUCE of builtins) and 5 (FROZENSET, BYTEARRAY8).
    for (const char* hex : {"80027d710028580200000066737101635f5f6275696c74696e5f5f0a66726f7a656e7365740a71025d71034b0261857104527105580200000062617106635f5f6275696c74696e5f5f0a6279746561727261790a7107635f636f646563730a656e636f64650a710858020000007879710958060000006c6174696e31710a86710b52710c85710d52710e580100000073710f635f5f6275696c74696e5f5f0a7365740a71105d71114b0161857112527113580100000062711468085801000000717115680a867116527117752e", "80059532000000000000007d94288c02667394284b0291948c026261949602000000000000007879948c0173948f94284b01908c01629443017194752e"}) {
        auto ck = open_pickle(unhex(hex));
        const auto& r = ck.root();
        CHECK(r.get("fs")->class_name() == "builtins.frozenset");
        CHECK(r.get("fs")->items()[0].as_int() == 2);
        CHECK(r.get("s")->class_name() == "builtins.set");
        CHECK(r.get("ba")->class_name() == "builtins.bytearray");
        CHECK(r.get("ba")->as_bytes().size() == 2);
        CHECK(r.get("b")->class_name() == "builtins.bytes");
    }
}

TEST_CASE("pickle: review regressions (memo semantics, big ints, sparse memo, listing budget)") {
    // MEMOIZE stores at len(memo), as Python: 'A' at 1, then 'B' at len == 1 replaces it.
    auto m = open_pickle("\x80\x04X\x01\x00\x00\x00" "Aq\x01" "0X\x01\x00\x00\x00" "B\x94" "0h\x01."s);
    CHECK(m.root().as_string() == "B");
    // A far memo index is stored sparsely and still found.
    auto sp = open_pickle("\x80\x02N" "r\xa0\x0f\x00\x00" "0j\xa0\x0f\x00\x00."s);
    CHECK(sp.root().is_none());
    // Integers past 4096 bytes or 4300 digits are refused (decimal text is quadratic).
    std::string long4 = "\x80\x02\x8b"s;
    const std::uint32_t n = 5000;
    for (int i = 0; i < 4; ++i) long4 += static_cast<char>(n >> (8 * i));
    long4 += std::string(n, '\x01') + ".";
    CHECK(code_of(long4) == ptio::errc::limit_exceeded);
    CHECK(code_of("\x80\x02L" + std::string(5000, '7') + "L\n.") == ptio::errc::limit_exceeded);
    // 300 × 300 references to one dict holding a tensor: 90,000 names from a tiny file pass
    // the listing budget and are refused rather than listed.
    std::string pkl = ptio_test::tensor_dict_pickle("w", 4, 0, {4}, {1});
    pkl.pop_back();  // drop STOP; the dict stays memoized at 0
    pkl += "]q\x01(" + [] { std::string h; for (int i = 0; i < 300; ++i) h += "h\x00"s; return h; }() + "e";
    pkl += "](" + [] { std::string h; for (int i = 0; i < 300; ++i) h += "h\x01"; return h; }() + "e.";
    ptio_test::zip_builder z;
    z.add("archive/data.pkl", pkl);
    z.add("archive/data/0", std::string(16, '\0'));
    try {
        (void)ptio::checkpoint::open(z.finish(), {}, "fan.pt");
        FAIL("listed 90,000 names");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::limit_exceeded);
    }
}
