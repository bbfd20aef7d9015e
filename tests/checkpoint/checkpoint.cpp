#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <ptio/ptio.hpp>
#include <thread>

#include "support/zip_builder.hpp"
#include "support/residency.hpp"

namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {
std::string floats(std::initializer_list<float> v) {
    std::string s(v.size() * 4, '\0');
    std::memcpy(s.data(), v.begin(), s.size());
    return s;
}
ptio::errc code_of(std::vector<std::byte> bytes) {
    try {
        (void)ptio::checkpoint::open(std::move(bytes), {}, "t.pt");
    } catch (const ptio::error& e) {
        CHECK(std::string(e.what()).rfind("t.pt: ", 0) == 0);
        return e.code();
    }
    FAIL("no error");
    return ptio::errc::invalid_argument;
}
}  // namespace

TEST_CASE("checkpoint: strided views read the right elements without copying") {
    const auto data = floats({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    // A 3x4 transposed to 4x3 (strides 1, 4), as torch saves base.view(3, 4).t().
    auto ck = ptio::checkpoint::open(ptio_test::float_checkpoint("t", 12, 0, {4, 3}, {1, 4}, data), {}, "t.pt");
    const auto& v = ck.at("t").view();
    CHECK(v.dtype() == ptio::dtype::float32);
    CHECK_FALSE(v.is_contiguous());
    CHECK_FALSE(v.is_copy());
    CHECK(v.at<float>({1, 2}) == 9.0f);  // element [1][2] of the transpose = base[2][1]
    const auto c = v.to_contiguous();
    const float want[] = {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11};
    REQUIRE(c.size() == sizeof want);
    CHECK(std::memcmp(c.data(), want, sizeof want) == 0);
    CHECK_THROWS_AS((void)v.at<double>({0, 0}), ptio::error);
    CHECK_THROWS_AS((void)v.at<float>({4, 0}), ptio::error);
    CHECK(ck.find("nope") == nullptr);
    try {
        (void)ck.at("nope");
        FAIL("found");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::not_found);
    }
    // An offset slice [::2] from element 1 and an expand (stride 0).
    auto sl = ptio::checkpoint::open(ptio_test::float_checkpoint("s", 12, 1, {6}, {2}, data), {}, "s.pt");
    const auto s = sl.at("s").view().to_contiguous();
    CHECK(reinterpret_cast<const float*>(s.data())[5] == 11.0f);
    auto ex = ptio::checkpoint::open(ptio_test::float_checkpoint("e", 12, 0, {3, 12}, {0, 1}, data), {}, "e.pt");
    CHECK(ex.at("e").view().at<float>({2, 11}) == 11.0f);
}

TEST_CASE("checkpoint: for_each_chunk gives the row-major bytes in bounded pieces") {
    std::string data;
    for (int i = 0; i < 24; ++i) data += floats({static_cast<float>(i)});
    // A transposed 4x6 (strides 1, 4), a column slice with a unit dim, and a contiguous one.
    const std::vector<std::vector<std::uint32_t>> geometry[] = {
        {{6, 4}, {1, 6}}, {{4, 1, 3}, {6, 1, 2}}, {{2, 12}, {12, 1}}};
    for (const auto& g : geometry) {
        auto ck = ptio::checkpoint::open(ptio_test::float_checkpoint("t", 24, 0, g[0], g[1], data), {}, "t.pt");
        const auto& v = ck.at("t").view();
        const auto whole = v.to_contiguous();
        for (std::size_t chunk : {std::size_t{1}, std::size_t{4}, std::size_t{12}, std::size_t{20},
                                  std::size_t{100}, std::size_t{1} << 20}) {
            INFO("chunk " << chunk << ", dims " << g[0].size());
            std::vector<std::byte> got;
            std::size_t largest = 0;
            v.for_each_chunk(chunk, [&](std::span<const std::byte> piece) {
                largest = std::max(largest, piece.size());
                got.insert(got.end(), piece.begin(), piece.end());
            });
            CHECK(got == whole);
            CHECK(largest <= std::max<std::size_t>(chunk, 4));
        }
    }
}

TEST_CASE("checkpoint: geometry past the storage is refused at open") {
    const auto data = floats({0, 1, 2, 3});
    CHECK(code_of(ptio_test::float_checkpoint("t", 4, 1, {4}, {1}, data)) == ptio::errc::bad_tensor);
    CHECK(code_of(ptio_test::float_checkpoint("t", 4, 0, {2, 2}, {3, 1}, data)) == ptio::errc::bad_tensor);
    // numel 8 over a 16-byte record: the storage itself is short.
    CHECK(code_of(ptio_test::float_checkpoint("t", 8, 0, {8}, {1}, data)) == ptio::errc::bad_storage);
    // zero-element tensors may sit at the end of their storage.
    CHECK_NOTHROW((void)ptio::checkpoint::open(ptio_test::float_checkpoint("t", 4, 4, {0}, {1}, data)));
}

TEST_CASE("checkpoint: bytes in memory, records and verify") {
    const auto bytes = ptio_test::float_checkpoint("w", 2, 0, {2}, {1}, floats({1.5f, 2.5f}));
    auto ck = ptio::checkpoint::open(std::span<const std::byte>(bytes), {}, "mem");
    CHECK(ck.file() == "mem");
    CHECK(ck.prefix() == "archive");
    CHECK(ck.format() == "zip");
    CHECK(ck.byteorder() == "little");
    REQUIRE(ck.records().size() == 3);
    CHECK(ck.records()[1].name == "data/0");
    CHECK(ck.verify(nullptr) == 0);
    auto broken = bytes;
    const auto* w = ck.at("w").view().data();
    broken[static_cast<std::size_t>(w - bytes.data())] = std::byte{0x42};
    auto bad = ptio::checkpoint::open(std::span<const std::byte>(broken), {}, "mem");
    std::vector<std::string> problems;
    CHECK(bad.verify([&](const ptio::error& e) { problems.emplace_back(e.what()); }) == 1);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("archive/data/0") != std::string::npos);
    ptio::open_options strict;
    strict.verify_crc = true;
    auto checked = ptio::checkpoint::open(std::span<const std::byte>(broken), strict, "mem");
    CHECK_THROWS_AS((void)checked.at("w").view().data(), ptio::error);
}

TEST_CASE("checkpoint: a big-endian file is byte-swapped into owned memory") {
    // torch >= 2.1 on a big-endian host writes byteorder = "big" and native storages.
    std::string data;
    for (float f : {1.5f, -2.0f, 1e10f}) {
        std::uint32_t bits;
        std::memcpy(&bits, &f, 4);
        for (int i = 3; i >= 0; --i) data += static_cast<char>(bits >> (8 * i));
    }
    ptio_test::zip_builder z;
    z.add("be/data.pkl", ptio_test::tensor_dict_pickle("x", 3, 0, {3}, {1}));
    z.add("be/byteorder", "big");
    z.add("be/data/0", data);
    z.add("be/version", "3\n");
    auto ck = ptio::checkpoint::open(z.finish(), {}, "be.pt");
    CHECK(ck.byteorder() == "big");
    const auto& v = ck.at("x").view();
    CHECK(v.is_copy());
    CHECK(v.at<float>({0}) == 1.5f);
    CHECK(v.at<float>({1}) == -2.0f);
    CHECK(v.at<float>({2}) == 1e10f);
}

TEST_CASE("checkpoint: a big-endian v3 tensor is swapped by its dtype, not its untyped storage") {
    // torch >= 2.1 saves new dtypes through _rebuild_tensor_v3 over an UntypedStorage (numel
    // in bytes); the swap width must come from the tensor's dtype.
    std::string p("\x80\x02}(X\x01\x00\x00\x00x", 10);
    p += "ctorch._utils\n_rebuild_tensor_v3\n((X";
    p += std::string("\x07\x00\x00\x00", 4) + "storagectorch.storage\nUntypedStorage\nX";
    p += std::string("\x01\x00\x00\x00", 4) + "0X" + std::string("\x03\x00\x00\x00", 4) + "cpuK\x0c";
    p += "tQI0\nK\x03\x85K\x01\x85\x89" "ccollections\nOrderedDict\n)Rctorch\nuint32\ntRu.";
    const std::string data("\x00\x00\x00\x01\x00\x00\x01\x00\xde\xad\xbe\xef", 12);
    ptio_test::zip_builder z;
    z.add("v3/data.pkl", p);
    z.add("v3/byteorder", "big");
    z.add("v3/data/0", data);
    auto ck = ptio::checkpoint::open(z.finish(), {}, "v3.pt");
    const auto& v = ck.at("x").view();
    REQUIRE(v.dtype() == ptio::dtype::uint32);
    CHECK(v.at<std::uint32_t>({0}) == 1u);
    CHECK(v.at<std::uint32_t>({1}) == 256u);
    CHECK(v.at<std::uint32_t>({2}) == 0xdeadbeefu);
}

TEST_CASE("checkpoint: packed quint4x2 views copy whole bytes and refuse element access") {
    // 7 logical 4-bit elements in 4 bytes: nbytes and copies are bytes.
    std::string p = ptio_test::tensor_dict_pickle("q", 4, 0, {7}, {1});
    const auto cls = p.find("FloatStorage");
    p.replace(cls, 12, "QUInt4x2Storage");
    ptio_test::zip_builder z;
    z.add("archive/data.pkl", p);
    z.add("archive/data/0", std::string("\x21\x43\x65\x07", 4));
    auto ck = ptio::checkpoint::open(z.finish(), {}, "q.pt");
    const auto& v = ck.at("q").view();
    CHECK(v.dtype() == ptio::dtype::quint4x2);
    CHECK(v.numel() == 7);
    CHECK(v.nbytes() == 4);
    const auto bytes = v.to_contiguous();
    REQUIRE(bytes.size() == 4);
    CHECK(bytes[3] == std::byte{0x07});
    CHECK_THROWS_AS((void)v.at<std::uint8_t>({0}), ptio::error);
    // 9 elements would need 5 bytes: past the 4-byte storage.
    std::string p9 = ptio_test::tensor_dict_pickle("q", 4, 0, {9}, {1});
    p9.replace(p9.find("FloatStorage"), 12, "QUInt4x2Storage");
    ptio_test::zip_builder z9;
    z9.add("archive/data.pkl", p9);
    z9.add("archive/data/0", std::string("\x21\x43\x65\x07", 4));
    CHECK(code_of(z9.finish()) == ptio::errc::bad_tensor);
}

TEST_CASE("checkpoint: torch 2.x conj and neg flags are read and resolve_conj_neg applies them") {
    // _rebuild_tensor_v2's 7th argument, {'conj': True}, as torch >= 2.0 writes for z.conj().
    std::string p = ptio_test::tensor_dict_pickle("z", 2, 0, {2}, {1});
    p.replace(p.find("FloatStorage"), 12, "ComplexFloatStorage");
    p.insert(p.rfind("tRu."), "}X\x04\x00\x00\x00" "conj\x88s"s);
    const float stored[] = {1.0f, 2.0f, -3.0f, 4.0f};  // 1+2j, -3+4j
    ptio_test::zip_builder z;
    z.add("archive/data.pkl", p);
    z.add("archive/data/0", std::string(reinterpret_cast<const char*>(stored), sizeof stored));
    auto ck = ptio::checkpoint::open(z.finish(), {}, "conj.pt");
    const auto& t = ck.at("z");
    CHECK(t.is_conj());
    CHECK_FALSE(t.is_neg());
    auto bytes = t.view().to_contiguous();  // the stored elements
    ptio::resolve_conj_neg(bytes, t.dtype(), t.is_conj(), t.is_neg());
    float got[4];
    std::memcpy(got, bytes.data(), sizeof got);
    CHECK(got[0] == 1.0f);
    CHECK(got[1] == -2.0f);
    CHECK(got[2] == -3.0f);
    CHECK(got[3] == -4.0f);

    std::int32_t ints[] = {5, -7, 0};
    ptio::resolve_conj_neg(std::as_writable_bytes(std::span(ints)), ptio::dtype::int32, false, true);
    CHECK(ints[0] == -5);
    CHECK(ints[1] == 7);
    CHECK(ints[2] == 0);
    double d[] = {1.5, -0.0};
    ptio::resolve_conj_neg(std::as_writable_bytes(std::span(d)), ptio::dtype::float64, false, true);
    CHECK(d[0] == -1.5);
    CHECK_FALSE(std::signbit(d[1]));
    CHECK_THROWS_AS(ptio::resolve_conj_neg(std::as_writable_bytes(std::span(d)).first(3), ptio::dtype::float64, false, true),
                    ptio::error);
}

TEST_CASE("checkpoint: many threads may touch a lazily located storage at once") {
    std::string data(4096 * 4, '\0');
    auto ck = ptio::checkpoint::open(ptio_test::float_checkpoint("w", 4096, 0, {4096}, {1}, data), {}, "t.pt");
    std::vector<const std::byte*> seen(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < seen.size(); ++i)
        threads.emplace_back([&, i] { seen[i] = ck.at("w").view().data(); });
    for (auto& t : threads) t.join();
    for (auto* p : seen) CHECK(p == seen[0]);
}

TEST_CASE("checkpoint: open reads no page of a storage record") {
    // 64 MiB of tensor data in a real file, evicted from the page cache; after open, the
    // pages of its storage must still be absent (mincore), and reading the tensor brings
    // them in.
    const std::size_t n = 16u << 20;
    const auto path = fs::temp_directory_path() / "ptio_untouched.pt";
    {
        const auto bytes = ptio_test::float_checkpoint("big", static_cast<std::uint32_t>(n), 0,
                                                       {static_cast<std::uint32_t>(n)}, {1},
                                                       std::string(n * 4, '\1'));
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                    static_cast<std::streamsize>(bytes.size()));
    }
    struct remove_after {
        fs::path p;
        ~remove_after() { fs::remove(p); }
    } cleanup{path};
    const ptio_test::page_probe probe(path);
    REQUIRE(probe.ok());
    const std::size_t page = probe.page(), size = probe.size();
    auto resident = [&](std::size_t from, std::size_t to) { return probe.resident(from, to); };
    if (!probe.evicted()) {
        MESSAGE("the page cache ignored POSIX_FADV_DONTNEED here; residency not testable");
    } else {
        auto ck = ptio::checkpoint::open(path);
        // The payload starts at a 64-byte aligned offset after data.pkl; its first page may
        // share the page of its local header, so look from the second page on.
        const std::size_t first_data_page = (size - n * 4) / page + 2;
        const std::size_t storage_end = size - 4096;
        CHECK(resident(first_data_page * page, storage_end) == 0);
        const auto& v = ck.at("big").view();
        volatile std::byte sink{};
        for (std::size_t i = 0; i < v.nbytes(); i += page) sink = v.data()[i];
        (void)sink;
        CHECK(resident(first_data_page * page, storage_end) > 0);
    }
}

namespace {
// Pickle pieces for hand-made TorchScript archives.
std::string bin_str(std::string_view s) {
    std::string p = "X";
    for (int i = 0; i < 4; ++i) p += static_cast<char>(s.size() >> (8 * i));
    return p += s;
}
// A 1-D float32 tensor of n elements over storage `key` (the C++ pickler's encoding).
std::string jit_tensor(std::string_view key, char n) {
    std::string p = "ctorch._utils\n_rebuild_tensor_v2\n((" + bin_str("storage") +
                    "ctorch\nFloatStorage\n" + bin_str(key) + bin_str("cpu");
    p += 'K';
    p += n;
    p += "tQ";
    p += std::string("K\x00", 2);  // offset 0
    p += "(K";
    p += n;
    p += "t(K\x01t\x88" "ccollections\nOrderedDict\n)RtR";  // size, stride, requires_grad
    return p;
}
}  // namespace

TEST_CASE("checkpoint: a TorchScript archive lists attributes, typed lists and constants") {
    // __torch__.M with a parameter, a build_intlist, a restore_type_tag dict and a
    // build_tensorlist, and a submodule; constants.pkl holds one tensor over constants/0.
    std::string data = "\x80\x02" "c__torch__\nM\n)\x81}(" + bin_str("weight") + jit_tensor("0", 2) +
                       bin_str("ints") + "ctorch.jit._pickle\nbuild_intlist\n](K\x01K\x02" "e\x85R" +
                       bin_str("d") + "ctorch.jit._pickle\nrestore_type_tag\n}(" + bin_str("k") +
                       jit_tensor("1", 1) + "u" + bin_str("Dict[str, Tensor]") + "\x86R" +
                       bin_str("pool") + "ctorch.jit._pickle\nbuild_tensorlist\n](" +
                       jit_tensor("1", 1) + "e\x85R" + bin_str("sub") +
                       "c__torch__.torch.nn.modules.linear\nLinear\n)\x81}(" + bin_str("bias") +
                       jit_tensor("2", 1) + "ub" + "ub.";
    std::string constants = "\x80\x02(" + jit_tensor("0", 3) + "t.";
    ptio_test::zip_builder z;
    z.add("m/extra/info.txt", "hello");
    z.add("m/data/0", floats({1, 2}));
    z.add("m/data/1", floats({3}));
    z.add("m/data/2", floats({4}));
    z.add("m/data.pkl", data);
    z.add("m/code/__torch__.py", "class M(Module):\n  pass\n");
    z.add("m/constants/0", floats({5, 6, 7}));
    z.add("m/constants.pkl", constants);
    z.add("m/.data/version", "10\n");  // written instead of version by newer features
    const auto ck = ptio::checkpoint::open(z.finish(), {}, "m.pt");
    CHECK(ck.format() == "torchscript");
    CHECK(ck.root().class_name() == "__torch__.M");
    std::vector<std::string> names;
    for (const auto& t : ck.tensors()) names.emplace_back(t.name);
    CHECK(names == std::vector<std::string>{"weight", "d.k", "pool.0", "sub.bias", "CONSTANTS.c0"});
    CHECK(ck.at("pool.0").view().at<float>({0}) == 3.0f);
    CHECK(ck.at("sub.bias").view().at<float>({0}) == 4.0f);
    CHECK(ck.at("CONSTANTS.c0").view().at<float>({2}) == 7.0f);
    // Keys restart in constants/: the constant's storage is not data/0.
    CHECK(ck.at("CONSTANTS.c0").view().storage_key() == "constants/0");
    CHECK(ck.at("weight").view().storage_key() == "0");
    CHECK(ck.extra_files() == std::vector<std::string>{"info.txt"});
    const auto info = ck.extra_file("info.txt");
    CHECK(std::string(reinterpret_cast<const char*>(info.data()), info.size()) == "hello");
    try {
        (void)ck.extra_file("missing.txt");
        FAIL("no error");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::not_found);
    }
}

TEST_CASE("checkpoint: TorchScript archives ptio cannot read fail with the record named") {
    SUBCASE("the pre-1.3 model.json layout") {
        ptio_test::zip_builder z;
        z.add("foo/version", "1\n");
        z.add("foo/code/foo.py", "op_version_set = 0\n");
        z.add("foo/tensors/0", floats({1}));
        z.add("foo/model.json", "{\"protoVersion\": \"6\"}");
        try {
            (void)ptio::checkpoint::open(z.finish(), {}, "foo.pt");
            FAIL("no error");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::unsupported_format);
            CHECK(std::string(e.what()).find("Legacy model format is not supported") != std::string::npos);
        }
    }
    SUBCASE("a constants.pkl storage whose constants/ record is missing") {
        ptio_test::zip_builder z;
        z.add("m/data.pkl", "\x80\x02" "c__torch__\nM\n)\x81}b.");
        z.add("m/data/0", floats({1, 2, 3}));  // a data/ record of that key does not stand in
        z.add("m/constants.pkl", "\x80\x02(" + jit_tensor("0", 3) + "t.");
        z.add("m/version", "3\n");
        try {
            (void)ptio::checkpoint::open(z.finish(), {}, "m.pt");
            FAIL("no error");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::missing_record);
            CHECK(e.record() == "m/constants.pkl");
            CHECK(std::string(e.what()).find("constants/0") != std::string::npos);
        }
    }
    SUBCASE("a data.pkl storage whose data/ record is missing") {
        ptio_test::zip_builder z;
        z.add("m/data.pkl", "\x80\x02" "c__torch__\nM\n)\x81}(" + bin_str("w") + jit_tensor("0", 3) + "ub.");
        z.add("m/constants/0", floats({1, 2, 3}));
        z.add("m/constants.pkl", "\x80\x02).");
        CHECK(code_of(z.finish()) == ptio::errc::missing_record);
    }
    SUBCASE("constants.pkl that is not a tuple") {
        ptio_test::zip_builder z;
        z.add("m/data.pkl", "\x80\x02" "c__torch__\nM\n)\x81}b.");
        z.add("m/constants.pkl", "\x80\x02].");
        CHECK(code_of(z.finish()) == ptio::errc::bad_pickle);
    }
}
