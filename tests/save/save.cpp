// ptio::save and the tree it writes, in-process: what ptio's own reader sees in the result,
// the pickle bytes of small values (beside what CPython 3.11's pickle.dumps(x, protocol=2)
// writes for them), the zip layout, and every way a tree can be refused. Whether torch reads
// the files is tests/save/writer_oracle.py's job (ctest writer.torch_load, writer.roundtrip).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <ptio/ptio.hpp>

#include <unistd.h>

#include "pickle/pickler.hpp"
#include "support/staging_support.hpp"

namespace fs = std::filesystem;
using ptio::dtype;
using ptio::tree;
using ptio_test::code_of;

namespace {

std::string hex(const std::vector<std::byte>& b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (auto x : b) {
        s += d[std::to_integer<unsigned>(x) >> 4];
        s += d[std::to_integer<unsigned>(x) & 15];
    }
    return s;
}

std::vector<std::byte> floats(std::initializer_list<float> v) {
    std::vector<std::byte> b(v.size() * 4);
    std::memcpy(b.data(), v.begin(), b.size());
    return b;
}

struct temp_dir {
    fs::path path = fs::temp_directory_path() / ("ptio_writer_" + std::to_string(::getpid()));
    temp_dir() { fs::create_directories(path); }
    ~temp_dir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("pickler: scalars as CPython's protocol-2 pickler writes them") {
    using ptio::detail::pickle::pickler;
    auto one = [](auto f) {
        pickler p;
        f(p);
        return hex(p.finish());
    };
    // pickle.dumps(x, 2).hex() in CPython 3.11
    CHECK(one([](pickler& p) { p.integer(0); }) == "80024b002e");
    CHECK(one([](pickler& p) { p.integer(256); }) == "80024d00012e");
    CHECK(one([](pickler& p) { p.integer(65536); }) == "80024a000001002e");
    CHECK(one([](pickler& p) { p.integer(-1); }) == "80024affffffff2e");
    CHECK(one([](pickler& p) { p.integer(std::int64_t{1} << 40); }) == "80028a060000000000012e");
    CHECK(one([](pickler& p) { p.integer(INT64_MIN); }) == "80028a0800000000000000802e");
    CHECK(one([](pickler& p) { p.floating(1.5); }) == "8002473ff80000000000002e");
    // CPython memoises the str (a BINPUT after it); ptio memoises only globals and shared nodes.
    CHECK(one([](pickler& p) { p.string("é"); }) == "80025802000000c3a92e");
    CHECK(one([](pickler& p) { p.boolean(true); }) == "8002882e");
    CHECK(one([](pickler& p) { p.global("builtins", "set"); }) == "8002635f5f6275696c74696e5f5f0a7365740a71002e");
}

TEST_CASE("save: a state_dict read back by ptio's reader, from a buffer") {
    auto w = floats({1, 2, 3, 4, 5, 6});
    tree sd = tree::ordered_dict();
    sd.set("w", tree::tensor(dtype::float32, {2, 3}, w));
    auto storage = ptio::storage_ref::borrow(w);
    sd.set("w_t", tree::tensor(storage, dtype::float32, {3, 2}, {1, 3}, 0));
    sd.set("tail", tree::tensor(storage, dtype::float32, {2}, {1}, 4));
    sd.set("step", 7);
    const auto bytes = ptio::save(sd);

    auto ck = ptio::checkpoint::open(std::span<const std::byte>(bytes));
    CHECK(ck.prefix() == "archive");
    CHECK(ck.root().class_name() == "collections.OrderedDict");
    REQUIRE(ck.tensors().size() == 3);
    const auto& wt = ck.at("w_t").view();
    CHECK(std::vector<std::int64_t>(wt.strides().begin(), wt.strides().end()) == std::vector<std::int64_t>{1, 3});
    CHECK(wt.at<float>({2, 1}) == 6.0f);
    CHECK(ck.at("tail").view().at<float>({1}) == 6.0f);
    // Tensors of one storage_ref share one storage in the file; another borrow is another.
    CHECK(ck.at("w_t").view().storage_key() == ck.at("tail").view().storage_key());
    CHECK(ck.at("w").view().storage_key() != ck.at("tail").view().storage_key());
    CHECK(ck.root().get("step")->as_int() == 7);
    // Every record's CRC-32 checks out, and every payload is 64-byte aligned.
    CHECK(ck.verify([](const ptio::error& e) { FAIL(e.what()); }) == 0);
    for (const auto& r : ck.records()) CHECK(r.method == 0);
}

TEST_CASE("save: files are renamed into place; a failed save leaves nothing") {
    temp_dir dir;
    const fs::path dst = dir.path / "model.pt";
    std::ofstream(dst) << "old contents";
    std::vector<std::byte> b(16);
    tree t = tree::dict();
    t.set("x", tree::tensor(dtype::uint8, {16}, b));
    const auto stats = ptio::save(t, dst);
    CHECK(stats.tensors == 1);
    CHECK(stats.storages == 1);
    CHECK(stats.file_bytes == fs::file_size(dst));
    auto ck = ptio::checkpoint::open(dst);
    CHECK(ck.prefix() == "model");

    // A tree that cannot be saved: the old file stays, no temporary is left.
    tree bad = tree::dict();
    bad.set("q", tree::tensor(ptio::storage_ref::borrow(b), dtype::qint8, {4}, {1}, 0));
    CHECK(code_of([&] { ptio::save(bad, dst); }) == ptio::errc::invalid_argument);
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 1);
    CHECK(ptio::checkpoint::open(dst).tensors().size() == 1);

    // An unwritable place: io_error naming the file.
    try {
        ptio::save(t, dir.path / "no" / "such" / "dir.pt");
        FAIL("no error");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::io_error);
        CHECK(std::string(e.what()).find("dir.pt") != std::string::npos);
    }
}

TEST_CASE("tree: refusals") {
    std::vector<std::byte> b(64);
    auto s = ptio::storage_ref::borrow(b);
    SUBCASE("views outside their storage") {
        CHECK(code_of([&] { (void)tree::tensor(s, dtype::float32, {17}, {1}, 0); }) == ptio::errc::invalid_argument);
        CHECK(code_of([&] { (void)tree::tensor(s, dtype::float32, {4}, {1}, 13); }) == ptio::errc::invalid_argument);
        CHECK(code_of([&] { (void)tree::tensor(s, dtype::float32, {2, 2}, {-1, 1}, 4); }) == ptio::errc::invalid_argument);
        CHECK(code_of([&] { (void)tree::tensor(s, dtype::float32, {2, 2}, {1}, 0); }) == ptio::errc::invalid_argument);
        CHECK(code_of([&] { (void)tree::tensor(dtype::float32, {3}, std::span(b).first(8)); }) == ptio::errc::invalid_argument);
        // An empty view anywhere is fine, as in torch.
        CHECK_NOTHROW((void)tree::tensor(s, dtype::float32, {0}, {1}, 100));
    }
    SUBCASE("one storage seen as two dtypes") {
        tree d = tree::dict();
        d.set("a", tree::tensor(s, dtype::float32, {4}, {1}, 0));
        d.set("b", tree::tensor(s, dtype::int32, {4}, {1}, 0));
        CHECK(code_of([&] { (void)ptio::save(d); }) == ptio::errc::invalid_argument);
    }
    SUBCASE("a cycle, refused while building so that no node owns itself") {
        // Each edit that could close a loop is refused, and the node is left as it was. A
        // cycle that got in would leak (children are shared_ptrs): the asan preset's leak
        // check fails this test if one does.
        const auto cycle_refused = [](auto&& edit) {
            try {
                edit();
            } catch (const ptio::error& e) {
                return e.code() == ptio::errc::invalid_argument &&
                       std::string(e.what()).find("cycle") != std::string::npos;
            }
            return false;
        };
        tree l = tree::list();
        CHECK(cycle_refused([&] { l.append(l); }));
        CHECK(l.items().empty());
        tree d = tree::dict();
        tree inner = tree::list({tree::tuple({1, 2})});
        d.set("inner", inner);
        CHECK(cycle_refused([&] { inner.append(d); }));      // through another node
        CHECK(cycle_refused([&] { d.set("again", tree::tuple({inner})); }) == false);  // shared, no loop
        CHECK(cycle_refused([&] { d.set(tree::tuple({d}), 1); }));  // as a key
        CHECK(cycle_refused([&] { d.state(tree::list({d})); }));
        CHECK(cycle_refused([&] { d.replace(0, d); }));
        CHECK(cycle_refused([&] { d.rename(0, tree::tuple({d})); }));
        tree obj = tree::global("collections", "OrderedDict");
        CHECK(cycle_refused([&] { obj.state(obj); }));
        CHECK(d.entries().size() == 2);
        CHECK(d.entries()[0].second.same(inner));
        CHECK_NOTHROW((void)ptio::save(d));
    }
    SUBCASE("a global that runs code") {
        tree call = tree::call("os", "system", tree::tuple({"echo hi"}));
        CHECK(code_of([&] { (void)ptio::save(call); }) == ptio::errc::unsafe_global);
    }
    SUBCASE("a global outside the allowlist, alone or as an allowed call's argument") {
        tree d = tree::dict();
        d.set("ok", tree::call("torch", "device", tree::tuple({"cpu"})));
        d.set("x", tree::call("mypkg.payload", "Run", tree::tuple({"x"})));
        d.set("y", tree::call("torch._tensor", "_rebuild_from_type_v2",
                              tree::tuple({tree::global("mypkg.payload", "run"), tree::global("torch", "Tensor"),
                                           tree::tuple({"x"}), tree::dict()})));
        try {
            (void)ptio::save(d);
            FAIL("saved a tree holding mypkg.payload.Run");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::unsafe_global);
            CHECK(std::string(e.what()).find("mypkg.payload.Run") != std::string::npos);
            CHECK(std::string(e.what()).find("mypkg.payload.run") != std::string::npos);
        }
        CHECK(code_of([&] { (void)ptio::save(d, {.allow_globals = {"mypkg.payload.Run"}}); }) ==
              ptio::errc::unsafe_global);  // mypkg.payload.run is still refused
        (void)ptio::save(d, {.allow_globals = {"mypkg.payload.Run", "mypkg.payload.run"}});
        // Dropped: x and y are None, the allowed torch.device stays.
        const auto bytes = ptio::save(d, {.drop_objects = true});
        const auto ck = ptio::checkpoint::open(std::span<const std::byte>(bytes));
        CHECK(ck.root().entries().size() == 3);
        CHECK(ck.root().entries()[0].second.is(ptio::kind::object));
        CHECK(ck.root().entries()[1].second.is_none());
        CHECK(ck.root().entries()[2].second.is_none());
        for (const auto& g : ck.globals()) CHECK(g.judged == ptio::global_ref::verdict::allowed);
    }
    SUBCASE("text that is not UTF-8, a bad alignment, a bad int") {
        CHECK(code_of([&] { (void)ptio::save(tree(std::string_view("\xff\xfe"))); }) == ptio::errc::invalid_argument);
        CHECK(code_of([&] { (void)ptio::save(tree(1), {.alignment = 48}); }) == ptio::errc::invalid_argument);
        CHECK(code_of([&] { (void)tree::big_int("12a"); }) == ptio::errc::invalid_argument);
        CHECK(code_of([&] { (void)tree::call("torch", "device", tree::list()); }) == ptio::errc::invalid_argument);
    }
    SUBCASE("a storage whose size is not whole elements") {
        auto odd = ptio::storage_ref::borrow(std::span(b).first(6));
        tree t = tree::tensor(odd, dtype::float32, {1}, {1}, 0);
        CHECK(code_of([&] { (void)ptio::save(t); }) == ptio::errc::invalid_argument);
    }
}

TEST_CASE("tree: a back reference is written as pickle writes a container inside itself") {
    using ptio::tree;
    // [1, <the list itself>, {"again": <the list>}]: what a converter of Python objects builds
    tree list = tree::list();
    list.append(tree(std::int64_t{1}));
    tree back = tree::back_reference("the list at root");
    list.append(back);
    tree inner = tree::dict();
    tree again = tree::back_reference("the list at root[2]");
    inner.set("again", again);
    list.append(inner);
    back.refer_to(list);
    again.refer_to(list);
    const auto ck = ptio::checkpoint::open(ptio::save(list));
    const ptio::value& root = ck.root();
    REQUIRE(root.is(ptio::kind::list));
    REQUIRE(root.items().size() == 3);
    CHECK(root.items()[0].as_int() == 1);
    CHECK(root.items()[1].identity() == root.identity());
    REQUIRE(root.items()[2].get("again") != nullptr);
    CHECK(root.items()[2].get("again")->identity() == root.identity());

    // Only a back_reference() can be pointed; one left pointing at nothing is refused.
    tree plain = tree::list();
    CHECK_THROWS_AS(plain.refer_to(list), ptio::error);
    tree dangling = tree::list();
    dangling.append(tree::back_reference("the list at root[0]"));
    CHECK_THROWS_WITH_AS((void)ptio::save(dangling), doctest::Contains("root[0]"), ptio::error);
}

TEST_CASE("tree: ints of any size and the building helpers") {
    CHECK(tree::big_int("-1").type() == ptio::kind::integer);
    CHECK(tree::big_int("9223372036854775807").type() == ptio::kind::integer);
    CHECK(tree::big_int("9223372036854775808").type() == ptio::kind::big_integer);
    CHECK(tree(std::uint64_t{1} << 63).type() == ptio::kind::big_integer);
    tree d = tree::dict();
    d.set("a", 1).set("b", 2).set("a", 3);
    REQUIRE(d.entries().size() == 2);
    CHECK(d.get("a") != nullptr);
    CHECK(d.erase("a"));
    CHECK_FALSE(d.erase("a"));
    d.rename(0, tree("c"));
    CHECK(d.entries()[0].first.as_string() == "c");
    // Read back through ptio's reader: values and their kinds.
    tree v = tree::dict();
    v.set("big", tree::big_int("-1180591620717411303424"));
    v.set("u", std::uint64_t{18446744073709551615u});
    v.set("neg", -5);
    auto ck = ptio::checkpoint::open(ptio::save(v));
    CHECK(ck.root().get("big")->int_text() == "-1180591620717411303424");
    CHECK(ck.root().get("u")->int_text() == "18446744073709551615");
    CHECK(ck.root().get("neg")->as_int() == -5);
}

TEST_CASE("tree: big integers go from the reader to the writer as their bytes") {
    // tree::from must carry a big integer's two's-complement bytes as they are: through
    // decimal text, an integer of 4000 bytes (over 9600 digits) is refused by int_text's
    // 4300-digit cap (and, with no cap, costs time that grows with the square of its length).
    // The writer writes the shortest form, as Python's pickle does.
    std::vector<std::byte> padded(12, std::byte{0});  // 2^64 + 5, then three redundant zeros
    padded[0] = std::byte{5};
    padded[8] = std::byte{1};
    std::vector<std::byte> huge(4000, std::byte{0x5a});
    huge.back() = std::byte{0xa5};  // negative
    tree v = tree::dict();
    v.set("padded", tree::big_int(std::span<const std::byte>(padded)));
    v.set("huge", tree::big_int(std::span<const std::byte>(huge)));
    v.set("small", tree::big_int(std::span<const std::byte>(padded).first(8)));
    CHECK(v.get("small")->type() == ptio::kind::integer);
    const auto first = ptio::save(v);
    auto ck = ptio::checkpoint::open(first);
    const ptio::value* h = ck.root().get("huge");
    REQUIRE(h != nullptr);
    CHECK(code_of([&] { (void)h->int_text(); }) == ptio::errc::limit_exceeded);
    CHECK(ck.root().get("padded")->int_text() == "18446744073709551621");
    const auto again = ptio::save(tree::from(ck.root()));
    auto ck2 = ptio::checkpoint::open(again);
    const auto bytes_of = [&](const char* key) {
        const auto b = ck2.root().get(key)->as_bytes();
        return std::vector<std::byte>(b.begin(), b.end());
    };
    CHECK(hex(bytes_of("padded")) == hex(std::vector<std::byte>(padded.begin(), padded.begin() + 9)));
    CHECK(hex(bytes_of("huge")) == hex(huge));
    CHECK(again == first);
}

TEST_CASE("tree::from: every torch fixture survives save and ptio's reader") {
    for (const auto& entry : fs::directory_iterator(ptio_test::fixture_dir())) {
        if (entry.path().extension() != ".pt" || entry.path().stem() == "quantized") continue;
        CAPTURE(entry.path().filename().string());
        auto src = ptio::checkpoint::open(entry.path());
        auto copy = ptio::checkpoint::open(ptio::save(tree::from(src.root())));
        REQUIRE(copy.tensors().size() == src.tensors().size());
        for (std::size_t i = 0; i < src.tensors().size(); ++i) {
            const auto& a = src.tensors()[i];
            const auto& b = copy.tensors()[i];
            CHECK(a.name == b.name);
            CHECK(a.tensor->location() == b.tensor->location());
            CHECK(a.tensor->requires_grad() == b.tensor->requires_grad());
            CHECK(a.tensor->is_parameter() == b.tensor->is_parameter());
            const auto& x = a.tensor->view();
            const auto& y = b.tensor->view();
            CHECK(x.dtype() == y.dtype());
            CHECK(ptio_test::same_dims(x.shape(), y.shape()));
            CHECK(ptio_test::same_dims(x.strides(), y.strides()));
            CHECK(x.storage_offset() == y.storage_offset());
            if (x.has_data()) CHECK(ptio_test::same_bytes(x.storage_bytes(), y.storage_bytes()));
        }
    }
}

TEST_CASE("tree::tensor of placed tensors: CPU copies save with their bytes and sharing") {
    const auto path = ptio_test::fixture("views.pt");
    ptio::load_options o;
    o.cpu = ptio::cpu_placement::copy;
    const ptio::loaded m = ptio::load(path, ptio::device::cpu(), o);
    ptio::tree root = ptio::tree::dict();
    for (const auto& t : m.tensors()) root.set(t.name, ptio::tree::tensor(*t.tensor));
    auto src = ptio::checkpoint::open(path);
    auto copy = ptio::checkpoint::open(ptio::save(root));
    REQUIRE(copy.tensors().size() == src.tensors().size());
    std::map<std::string, std::string> key_of;  // source storage key → copy's
    for (std::size_t i = 0; i < src.tensors().size(); ++i) {
        const auto& a = src.tensors()[i].tensor->view();
        const auto& b = copy.tensors()[i].tensor->view();
        CHECK(copy.tensors()[i].tensor->location() == "cpu");
        CHECK(ptio_test::same_dims(a.strides(), b.strides()));
        CHECK(a.storage_offset() == b.storage_offset());
        CHECK(ptio_test::same_bytes(a.storage_bytes(), b.storage_bytes()));
        // Tensors sharing a storage in the file still share one after the round trip.
        const auto it = key_of.emplace(std::string(a.storage_key()), std::string(b.storage_key())).first;
        CHECK(it->second == b.storage_key());
    }
}

TEST_CASE("tree: what a converter of Python objects builds — tuples and sets grown by append, "
          "Counter, defaultdict, NEWOBJ instances with items and entries") {
    tree t = tree::tuple();
    t.append(1).append("two");
    tree s = tree::frozenset();
    s.append(3);
    tree thing = tree::instance("mypackage", "Thing", tree::tuple({1}));
    thing.append("item").set("key", 2).state(tree::dict());
    tree c = tree::counter();
    c.set("a", 2);
    tree dd = tree::defaultdict();
    dd.set("b", 1);
    tree root = tree::dict();
    root.set("t", t).set("s", s).set("thing", thing).set("c", c).set("dd", dd);
    CHECK(code_of([] { tree::dict().append(1); }) == ptio::errc::invalid_argument);
    CHECK(code_of([] { (void)tree::instance("m", "n", tree(1)); }) == ptio::errc::invalid_argument);
    CHECK(code_of([&] { (void)ptio::save(root); }) == ptio::errc::unsafe_global);
    ptio::save_options o;
    o.allow_globals = {"mypackage.Thing"};
    auto ck = ptio::checkpoint::open(ptio::save(root, o));
    const ptio::value& r = ck.root();
    REQUIRE(r.get("t")->type() == ptio::kind::tuple);
    CHECK(r.get("t")->items().size() == 2);
    CHECK(r.get("s")->class_name() == "builtins.frozenset");
    CHECK(r.get("c")->class_name() == "collections.Counter");
    CHECK(r.get("dd")->class_name() == "collections.defaultdict");
    const ptio::value* x = r.get("thing");
    REQUIRE(x->type() == ptio::kind::object);
    CHECK(x->object_origin() == ptio::value::origin::instance);
    CHECK(x->class_name() == "mypackage.Thing");
    CHECK(x->args().items().size() == 1);
    CHECK(x->items().size() == 1);
    CHECK(x->entries().size() == 1);
}
