// Tests on files real torch wrote (tests/fixtures/make_fixtures.py, run by ctest as the
// fixtures.torch setup test into PTIO_FIXTURE_DIR).
//
// torch_oracle.py already compares every tensor's geometry, flags and element hash with what
// torch.load reports. These tests check what the oracle cannot see: that views share the bytes
// of one storage, element values read through the public API, the object tree (kinds, big
// integers, floats, strings, bytes, OrderedDict and state_dict metadata), archive prefixes,
// opening from memory, and the lookup functions. Expected values are the ones the fixture
// script constructs; keep the two files in step.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ptio/ptio.hpp>

namespace {

namespace fs = std::filesystem;

fs::path fixture(std::string_view name) { return fs::path(PTIO_FIXTURE_DIR) / name; }

ptio::checkpoint open_fixture(std::string_view name) {
    return ptio::checkpoint::open(fixture(name));
}

std::vector<std::byte> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    std::vector<char> chars{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::vector<std::byte> out(chars.size());
    std::memcpy(out.data(), chars.data(), chars.size());
    return out;
}

const ptio::tensor& tensor_named(const ptio::checkpoint& ck, std::string_view name) {
    const ptio::named_tensor* t = ck.find(name);
    INFO("tensor ", std::string(name));
    REQUIRE(t != nullptr);
    REQUIRE(t->tensor != nullptr);
    return *t->tensor;
}

template <class T>
std::vector<T> elements(const ptio::tensor_view& v) {
    REQUIRE(sizeof(T) == v.element_size());
    const std::vector<std::byte> bytes = v.to_contiguous();
    REQUIRE(bytes.size() == static_cast<std::size_t>(v.numel()) * sizeof(T));
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
}

std::vector<std::int64_t> dims(std::span<const std::int64_t> s) { return {s.begin(), s.end()}; }

float f(std::int64_t x) { return static_cast<float>(x); }

// IEEE half and bfloat16 bit patterns to float (normal numbers and zero suffice here).
float half_to_float(std::uint16_t h) {
    const int exponent = (h >> 10) & 0x1f;
    const float mantissa = static_cast<float>(h & 0x3ff) / 1024.0f;
    const float magnitude = exponent == 0 ? std::ldexp(mantissa, -14)
                                          : std::ldexp(1.0f + mantissa, exponent - 15);
    return (h & 0x8000) ? -magnitude : magnitude;
}
float bfloat16_to_float(std::uint16_t b) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

// The value under a dict key of any kind whose key_text is `key` (int keys: "7").
const ptio::value* entry_by_text(const ptio::value& dict, std::string_view key) {
    for (const auto& [k, v] : dict.entries())
        if (ptio::key_text(k) == key) return &v;
    return nullptr;
}

const ptio::value& get(const ptio::value& dict, std::string_view key) {
    INFO("key ", std::string(key));
    REQUIRE(dict.is(ptio::kind::dict));
    const ptio::value* v = dict.get(key);
    REQUIRE(v != nullptr);
    return *v;
}

// Everything a tensor table says, element bytes included, for comparing two opens.
struct tensor_summary {
    std::string name;
    std::vector<std::string> path;
    std::string dtype;
    std::vector<std::int64_t> shape, strides;
    std::int64_t offset = 0;
    bool requires_grad = false, is_parameter = false;
    std::string storage_key;
    std::vector<std::byte> data;
    bool operator==(const tensor_summary&) const = default;
};

std::vector<tensor_summary> summarize(const ptio::checkpoint& ck) {
    std::vector<tensor_summary> out;
    for (const ptio::named_tensor& nt : ck.tensors()) {
        const ptio::tensor_view& v = nt.tensor->view();
        out.push_back({nt.name, nt.path, std::string(ptio::name(v.dtype())), dims(v.shape()),
                       dims(v.strides()), v.storage_offset(), nt.tensor->requires_grad(),
                       nt.tensor->is_parameter(), std::string(v.storage_key()),
                       v.to_contiguous()});
    }
    return out;
}

std::vector<std::string> names(const ptio::checkpoint& ck) {
    std::vector<std::string> out;
    for (const ptio::named_tensor& nt : ck.tensors()) out.push_back(nt.name);
    return out;
}

}  // namespace

TEST_CASE("fixtures: views share one storage and read the values written") {
    // base = arange(24.).reshape(4, 6) and its views; expand/small = arange(3.)
    const auto ck = open_fixture("views.pt");
    CHECK(ck.root().is(ptio::kind::dict));
    CHECK(ck.root().class_name() == "collections.OrderedDict");
    CHECK(names(ck) == std::vector<std::string>{"base", "slice", "row", "column", "transpose",
                                                "strided", "narrow", "flat_tail", "base_again",
                                                "expand", "small"});

    const ptio::tensor_view& base = tensor_named(ck, "base").view();
    REQUIRE(base.dtype() == ptio::dtype::float32);
    CHECK(dims(base.shape()) == std::vector<std::int64_t>{4, 6});
    CHECK(base.storage_bytes().size() == 24 * sizeof(float));
    for (std::int64_t i = 0; i < 4; ++i)
        for (std::int64_t j = 0; j < 6; ++j)
            CHECK(base.at<float>({i, j}) == f(i * 6 + j));

    for (const char* name : {"slice", "row", "column", "transpose", "strided", "narrow",
                             "flat_tail", "base_again"}) {
        INFO("view ", name);
        const ptio::tensor_view& v = tensor_named(ck, name).view();
        CHECK(v.storage_bytes().data() == base.storage_bytes().data());
        CHECK(v.storage_bytes().size() == base.storage_bytes().size());
        CHECK(v.storage_key() == base.storage_key());
        CHECK(v.data() == base.storage_bytes().data() + v.storage_offset() * 4);
    }

    const auto& slice = tensor_named(ck, "slice").view();
    const auto& row = tensor_named(ck, "row").view();
    const auto& column = tensor_named(ck, "column").view();
    const auto& transpose = tensor_named(ck, "transpose").view();
    const auto& strided = tensor_named(ck, "strided").view();
    const auto& narrow = tensor_named(ck, "narrow").view();
    const auto& flat_tail = tensor_named(ck, "flat_tail").view();
    CHECK(slice.storage_offset() == 6);
    CHECK(row.storage_offset() == 12);
    CHECK(column.storage_offset() == 3);
    CHECK(dims(column.strides()) == std::vector<std::int64_t>{6});
    CHECK(dims(transpose.strides()) == std::vector<std::int64_t>{1, 6});
    CHECK(dims(strided.strides()) == std::vector<std::int64_t>{12, 3});
    CHECK(strided.storage_offset() == 1);
    CHECK(narrow.storage_offset() == 2);
    CHECK(flat_tail.storage_offset() == 20);
    for (std::int64_t i = 0; i < 2; ++i)
        for (std::int64_t j = 0; j < 6; ++j) CHECK(slice.at<float>({i, j}) == f((i + 1) * 6 + j));
    for (std::int64_t j = 0; j < 6; ++j) CHECK(row.at<float>({j}) == f(12 + j));
    for (std::int64_t i = 0; i < 4; ++i) CHECK(column.at<float>({i}) == f(i * 6 + 3));
    for (std::int64_t i = 0; i < 4; ++i)
        for (std::int64_t j = 0; j < 6; ++j) CHECK(transpose.at<float>({j, i}) == f(i * 6 + j));
    for (std::int64_t a = 0; a < 2; ++a)
        for (std::int64_t b = 0; b < 2; ++b)
            CHECK(strided.at<float>({a, b}) == f(12 * a + 1 + 3 * b));
    for (std::int64_t i = 0; i < 4; ++i)
        for (std::int64_t k = 0; k < 3; ++k) CHECK(narrow.at<float>({i, k}) == f(i * 6 + 2 + k));
    for (std::int64_t k = 0; k < 4; ++k) CHECK(flat_tail.at<float>({k}) == f(20 + k));

    CHECK(base.is_contiguous());
    CHECK(row.is_contiguous());
    CHECK_FALSE(column.is_contiguous());
    CHECK_FALSE(transpose.is_contiguous());
    CHECK_FALSE(strided.is_contiguous());

    // to_contiguous walks the strides: compare with the elements computed by hand.
    std::vector<float> transposed;
    for (int j = 0; j < 6; ++j)
        for (int i = 0; i < 4; ++i) transposed.push_back(static_cast<float>(i * 6 + j));
    CHECK(elements<float>(transpose) == transposed);
    CHECK(elements<float>(strided) == std::vector<float>{1, 4, 13, 16});
    CHECK(elements<float>(column) == std::vector<float>{3, 9, 15, 21});
    CHECK(elements<float>(narrow) ==
          std::vector<float>{2, 3, 4, 8, 9, 10, 14, 15, 16, 20, 21, 22});
    std::vector<std::byte> copied(column.nbytes());
    column.copy_to(copied);
    CHECK(copied == column.to_contiguous());

    // expand: stride 0 over a 3-element storage shared with `small`.
    const auto& expand = tensor_named(ck, "expand").view();
    const auto& small = tensor_named(ck, "small").view();
    CHECK(dims(expand.shape()) == std::vector<std::int64_t>{4, 3});
    CHECK(dims(expand.strides()) == std::vector<std::int64_t>{0, 1});
    CHECK(expand.storage_bytes().size() == 3 * sizeof(float));
    CHECK(expand.storage_bytes().data() == small.storage_bytes().data());
    CHECK(expand.storage_bytes().data() != base.storage_bytes().data());
    CHECK(expand.nbytes() == 12 * sizeof(float));
    for (std::int64_t i = 0; i < 4; ++i)
        for (std::int64_t j = 0; j < 3; ++j) CHECK(expand.at<float>({i, j}) == f(j));
    CHECK(elements<float>(expand) == std::vector<float>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2});
}

TEST_CASE("fixtures: every dtype reads back the values written") {
    // v = [[-3, -2, -1], [0, 1, 2]] in each dtype, scaled as make_dtypes() does.
    const auto ck = open_fixture("dtypes.pt");
    CHECK(ck.root().class_name() == "dict");
    const double v[6] = {-3, -2, -1, 0, 1, 2};
    auto check_dtype = [&](std::string_view name, ptio::dtype type, std::size_t size) {
        const ptio::tensor& t = tensor_named(ck, name);
        CHECK(t.dtype() == type);
        CHECK(ptio::name(t.dtype()) == name);
        CHECK(t.view().element_size() == size);
        CHECK(dims(t.shape()) == std::vector<std::int64_t>{2, 3});
        CHECK(t.view().nbytes() == 6 * size);
        CHECK(t.location() == "cpu");
        return t.view();
    };

    const auto f64 = elements<double>(check_dtype("float64", ptio::dtype::float64, 8));
    const auto f32 = elements<float>(check_dtype("float32", ptio::dtype::float32, 4));
    const auto f16 = elements<std::uint16_t>(check_dtype("float16", ptio::dtype::float16, 2));
    const auto bf16 = elements<std::uint16_t>(check_dtype("bfloat16", ptio::dtype::bfloat16, 2));
    const auto i64 = elements<std::int64_t>(check_dtype("int64", ptio::dtype::int64, 8));
    const auto i32 = elements<std::int32_t>(check_dtype("int32", ptio::dtype::int32, 4));
    const auto i16 = elements<std::int16_t>(check_dtype("int16", ptio::dtype::int16, 2));
    const auto i8 = elements<std::int8_t>(check_dtype("int8", ptio::dtype::int8, 1));
    const auto u8 = elements<std::uint8_t>(check_dtype("uint8", ptio::dtype::uint8, 1));
    const auto b = elements<std::uint8_t>(check_dtype("bool", ptio::dtype::boolean, 1));
    const auto c64 =
        elements<std::complex<float>>(check_dtype("complex64", ptio::dtype::complex64, 8));
    const auto c128 =
        elements<std::complex<double>>(check_dtype("complex128", ptio::dtype::complex128, 16));
    for (int k = 0; k < 6; ++k) {
        INFO("element ", k);
        CHECK(f64[k] == v[k]);
        CHECK(f32[k] == static_cast<float>(v[k] * 1.5));
        CHECK(half_to_float(f16[k]) == static_cast<float>(v[k] * 0.5));
        CHECK(bfloat16_to_float(bf16[k]) == static_cast<float>(v[k] * 0.25));
        CHECK(i64[k] == static_cast<std::int64_t>(v[k] * 1e12));
        CHECK(i32[k] == static_cast<std::int32_t>(v[k] * 100000));
        CHECK(i16[k] == static_cast<std::int16_t>(v[k] * 1000));
        CHECK(i8[k] == static_cast<std::int8_t>(v[k] * 40));
        CHECK(u8[k] == static_cast<std::uint8_t>((v[k] + 3) * 50));
        CHECK(b[k] == (v[k] > 0 ? 1 : 0));
        CHECK(c64[k] == std::complex<float>(static_cast<float>(v[k]), static_cast<float>(-2 * v[k])));
        CHECK(c128[k] == std::complex<double>(v[k], v[k] + 0.5));
    }
    // at<T> reads the same element through the strides.
    CHECK(tensor_named(ck, "int64").view().at<std::int64_t>({1, 2}) == 2'000'000'000'000);
    CHECK(tensor_named(ck, "bool").view().at<bool>({1, 1}));
    CHECK_THROWS_AS((void)tensor_named(ck, "int64").view().at<std::int32_t>({0, 0}), ptio::error);
}

TEST_CASE("fixtures: quantized tensors keep their integer representation") {
    // int_repr of quantize_per_tensor(linspace(-1, 1, 12).reshape(3, 4), scale, zero_point)
    const auto ck = open_fixture("quantized.pt");
    const auto& qint8 = tensor_named(ck, "qint8").view();
    const auto& quint8 = tensor_named(ck, "quint8").view();
    const auto& qint32 = tensor_named(ck, "qint32").view();
    CHECK(qint8.dtype() == ptio::dtype::qint8);
    CHECK(quint8.dtype() == ptio::dtype::quint8);
    CHECK(qint32.dtype() == ptio::dtype::qint32);
    CHECK(dims(qint32.shape()) == std::vector<std::int64_t>{3, 4});
    CHECK(elements<std::int8_t>(qint8) ==
          std::vector<std::int8_t>{-100, -82, -64, -45, -27, -9, 9, 27, 45, 64, 82, 100});
    CHECK(elements<std::uint8_t>(quint8) ==
          std::vector<std::uint8_t>{28, 46, 64, 83, 101, 119, 137, 155, 173, 192, 210, 228});
    CHECK(elements<std::int32_t>(qint32) ==
          std::vector<std::int32_t>{-1005, -823, -641, -460, -278, -96, 86, 268, 450, 631, 813,
                                    995});
}

TEST_CASE("fixtures: 0-dim and empty tensors") {
    const auto ck = open_fixture("empty.pt");
    const auto& scalar = tensor_named(ck, "scalar").view();
    CHECK(scalar.dim() == 0);
    CHECK(scalar.numel() == 1);
    CHECK(scalar.nbytes() == 4);
    CHECK(scalar.at<float>({}) == 3.5f);
    CHECK(elements<float>(scalar) == std::vector<float>{3.5f});
    CHECK(tensor_named(ck, "scalar_int").view().at<std::int64_t>({}) == -7);
    CHECK(tensor_named(ck, "scalar_bool").view().at<std::uint8_t>({}) == 1);

    for (const char* name : {"empty", "empty_2d", "tail", "empty_bool"}) {
        INFO("tensor ", name);
        const auto& v = tensor_named(ck, name).view();
        CHECK(v.numel() == 0);
        CHECK(v.nbytes() == 0);
        CHECK(v.to_contiguous().empty());
    }
    CHECK(dims(tensor_named(ck, "empty_2d").view().shape()) == std::vector<std::int64_t>{3, 0});
    // ones(5)[5:]: an empty view at the very end of a 5-element storage.
    const auto& tail = tensor_named(ck, "tail").view();
    CHECK(tail.storage_offset() == 5);
    CHECK(tail.storage_bytes().size() == 5 * sizeof(float));
    CHECK(dims(tail.shape()) == std::vector<std::int64_t>{0});
}

TEST_CASE("fixtures: nested values come back as the script wrote them") {
    for (const char* file : {"nested.pt", "protocol_2.pt", "protocol_3.pt", "protocol_4.pt",
                             "protocol_5.pt"}) {
        SUBCASE(file) {
            const auto ck = open_fixture(file);
            const ptio::value& root = ck.root();
            REQUIRE(root.is(ptio::kind::dict));
            CHECK(root.class_name() == "dict");
            CHECK(root.size() == 13);

            const ptio::value& ints = get(root, "ints");
            REQUIRE(ints.is(ptio::kind::list));
            const std::int64_t want_ints[] = {0, 1, -1, 255, 256, 65535, 65536, 2147483647,
                                              -2147483648, INT64_MAX, INT64_MIN};
            REQUIRE(ints.size() == std::size(want_ints));
            for (std::size_t k = 0; k < ints.size(); ++k) {
                CHECK(ints.items()[k].is(ptio::kind::integer));
                CHECK(ints.items()[k].as_int() == want_ints[k]);
            }

            const ptio::value& big = get(root, "big");
            const char* want_big[] = {"9223372036854775808", "18446744073709551617",
                                      "-9223372036854775809",
                                      "-1267650600228229401496703205376",
                                      "1000000000000000000000000000000"};
            REQUIRE(big.size() == std::size(want_big));
            for (std::size_t k = 0; k < big.size(); ++k) {
                CHECK(big.items()[k].is(ptio::kind::big_integer));
                CHECK(big.items()[k].int_text() == want_big[k]);
            }
            // 2**63 as two's-complement little-endian digits: 00 … 00 80 00
            const auto digits = big.items()[0].as_bytes();
            REQUIRE(digits.size() == 9);
            CHECK(digits[7] == std::byte{0x80});
            CHECK(digits[8] == std::byte{0x00});

            const ptio::value& floats = get(root, "floats");
            REQUIRE(floats.size() == 8);
            for (const ptio::value& f : floats.items()) CHECK(f.is(ptio::kind::floating));
            CHECK(floats.items()[0].as_float() == 0.0);
            CHECK_FALSE(std::signbit(floats.items()[0].as_float()));
            CHECK(floats.items()[1].as_float() == 0.0);
            CHECK(std::signbit(floats.items()[1].as_float()));
            CHECK(floats.items()[2].as_float() == 1.5);
            CHECK(floats.items()[3].as_float() == -2.25);
            CHECK(floats.items()[4].as_float() == 1e300);
            CHECK(std::isnan(floats.items()[5].as_float()));
            CHECK(floats.items()[6].as_float() == INFINITY);
            CHECK(floats.items()[7].as_float() == -INFINITY);

            const ptio::value& strings = get(root, "strings");
            const std::string_view want_strings[] = {"", "ascii", "h\xc3\xa9llo w\xc3\xb6rld",
                                                     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                                     "\xf0\x9f\x9a\x80 emoji"};
            REQUIRE(strings.size() == std::size(want_strings));
            for (std::size_t k = 0; k < strings.size(); ++k) {
                CHECK(strings.items()[k].is(ptio::kind::string));
                CHECK(strings.items()[k].as_string() == want_strings[k]);
            }

            const ptio::value& bytes = get(root, "bytes");
            REQUIRE(bytes.is(ptio::kind::bytes));
            const auto b = bytes.as_bytes();
            CHECK(std::vector<std::byte>(b.begin(), b.end()) ==
                  std::vector<std::byte>{std::byte{0x00}, std::byte{0x01}, std::byte{0x7f},
                                         std::byte{0x80}, std::byte{0xfe}, std::byte{0xff}});
            const ptio::value& empty_bytes = get(root, "empty_bytes");
            CHECK(empty_bytes.is(ptio::kind::bytes));
            CHECK(empty_bytes.as_bytes().empty());

            CHECK(get(root, "none").is_none());
            CHECK(get(root, "true").is(ptio::kind::boolean));
            CHECK(get(root, "true").as_bool() == true);
            CHECK(get(root, "false").as_bool() == false);

            const ptio::value& tuple = get(root, "tuple");
            REQUIRE(tuple.is(ptio::kind::tuple));
            REQUIRE(tuple.size() == 4);
            CHECK(tuple.items()[0].as_int() == 1);
            CHECK(tuple.items()[1].as_string() == "two");
            CHECK(tuple.items()[2].is(ptio::kind::floating));
            CHECK(tuple.items()[2].as_float() == 3.0);
            CHECK(tuple.items()[3].is_none());

            // Containers of tensors, and int keys.
            const ptio::value& tensors = get(root, "tensors");
            CHECK(get(tensors, "list").is(ptio::kind::list));
            CHECK(get(tensors, "tuple").is(ptio::kind::tuple));
            const ptio::value* seven = entry_by_text(root, "7");
            REQUIRE(seven != nullptr);
            REQUIRE(seven->is(ptio::kind::tensor));
            CHECK(elements<std::int16_t>(seven->as_tensor().view()) ==
                  std::vector<std::int16_t>{7, 7, 7});
            const ptio::value* minus_three = entry_by_text(root, "-3");
            REQUIRE(minus_three != nullptr);
            CHECK(minus_three->as_string() == "negative int key");
            for (const auto& [key, value] : root.entries())
                if (ptio::key_text(key) == "7" || ptio::key_text(key) == "-3")
                    CHECK(key.is(ptio::kind::integer));

            CHECK(names(ck) == std::vector<std::string>{"tensors.list.0", "tensors.list.1.deep",
                                                        "tensors.tuple.0", "tensors.tuple.1",
                                                        "7"});
            CHECK(ck.tensors()[1].path ==
                  std::vector<std::string>{"tensors", "list", "1", "deep"});
            const auto& shared = tensor_named(ck, "tensors.tuple.0").view();
            const auto& part = tensor_named(ck, "tensors.tuple.1").view();
            CHECK(part.storage_bytes().data() == shared.storage_bytes().data());
            CHECK(elements<std::int64_t>(part) == std::vector<std::int64_t>{2, 3, 4});
            CHECK(elements<float>(tensor_named(ck, "tensors.list.0").view()) ==
                  std::vector<float>{0, 1, 2, 3});
        }
    }
}

TEST_CASE("fixtures: pickle protocols 2 to 5 give the same tensor table") {
    const auto reference = summarize(open_fixture("protocol_2.pt"));
    REQUIRE(reference.size() == 5);
    for (const char* file : {"nested.pt", "protocol_3.pt", "protocol_4.pt", "protocol_5.pt"}) {
        INFO("file ", file);
        CHECK(summarize(open_fixture(file)) == reference);
    }
}

TEST_CASE("fixtures: a training checkpoint") {
    const auto ck = open_fixture("training.pt");
    const ptio::value& root = ck.root();
    CHECK(get(root, "epoch").as_int() == 3);
    CHECK(get(root, "loss").as_float() == 0.25);

    const ptio::value& model = get(root, "model");
    CHECK(model.class_name() == "collections.OrderedDict");
    const char* model_keys[] = {"fc1.weight", "fc1.bias", "bn.weight", "bn.bias",
                                "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
                                "fc2.weight", "fc2.bias"};
    REQUIRE(model.size() == std::size(model_keys));
    for (std::size_t k = 0; k < model.size(); ++k) {
        CHECK(model.entries()[k].first.as_string() == model_keys[k]);
        CHECK(model.entries()[k].second.is(ptio::kind::tensor));
    }
    // state_dict() attaches _metadata, pickled as BUILD state after the items.
    const ptio::value state = model.state();
    REQUIRE(state.is(ptio::kind::dict));
    const ptio::value& metadata = get(state, "_metadata");
    CHECK(metadata.class_name() == "collections.OrderedDict");
    CHECK(get(get(metadata, ""), "version").as_int() == 1);
    CHECK(get(get(metadata, "bn"), "version").as_int() == 2);

    const ptio::tensor& weight = ck.at("model.fc1.weight");
    CHECK(dims(weight.shape()) == std::vector<std::int64_t>{8, 4});
    CHECK_FALSE(weight.is_parameter());
    CHECK_FALSE(weight.requires_grad());
    const ptio::tensor& tracked = ck.at("model.bn.num_batches_tracked");
    CHECK(tracked.dtype() == ptio::dtype::int64);
    CHECK(tracked.view().at<std::int64_t>({}) == 1);

    // Adam after one step: state keyed by int parameter index.
    const ptio::value& optimizer = get(root, "optimizer");
    const ptio::value& opt_state = get(optimizer, "state");
    REQUIRE(opt_state.size() == 6);
    for (std::size_t k = 0; k < 6; ++k) {
        CHECK(opt_state.entries()[k].first.is(ptio::kind::integer));
        CHECK(opt_state.entries()[k].first.as_int() == static_cast<std::int64_t>(k));
    }
    CHECK(ck.at("optimizer.state.0.step").view().at<float>({}) == 1.0f);
    CHECK(dims(ck.at("optimizer.state.4.exp_avg").shape()) == std::vector<std::int64_t>{2, 8});
    const ptio::value& groups = get(optimizer, "param_groups");
    REQUIRE(groups.is(ptio::kind::list));
    REQUIRE(groups.size() == 1);
    const ptio::value& group = groups.items()[0];
    CHECK(get(group, "lr").as_float() == 1e-3);
    CHECK(get(group, "eps").as_float() == 1e-8);
    CHECK(get(group, "amsgrad").as_bool() == false);
    CHECK(get(group, "foreach").is_none());
    const ptio::value& betas = get(group, "betas");
    REQUIRE(betas.is(ptio::kind::tuple));
    CHECK(betas.items()[0].as_float() == 0.9);
    CHECK(betas.items()[1].as_float() == 0.999);
    const ptio::value& params = get(group, "params");
    REQUIRE(params.size() == 6);
    for (std::size_t k = 0; k < 6; ++k)
        CHECK(params.items()[k].as_int() == static_cast<std::int64_t>(k));

    CHECK(ck.tensors().size() == 9 + 6 * 3);
}

TEST_CASE("fixtures: parameters saved directly") {
    const auto ck = open_fixture("parameters.pt");
    const ptio::tensor& weight = ck.at("weight");
    CHECK(weight.is_parameter());
    CHECK(weight.requires_grad());
    CHECK(elements<float>(weight.view()) == std::vector<float>{0, 1, 2, 3, 4, 5});
    const ptio::tensor& frozen = ck.at("frozen");
    CHECK(frozen.is_parameter());
    CHECK_FALSE(frozen.requires_grad());
    const ptio::tensor& leaf = ck.at("leaf");
    CHECK_FALSE(leaf.is_parameter());
    CHECK(leaf.requires_grad());
    const ptio::tensor& plain = ck.at("plain");
    CHECK_FALSE(plain.is_parameter());
    CHECK_FALSE(plain.requires_grad());
}

TEST_CASE("fixtures: the archive prefix follows how torch.save was called") {
    const auto buffer = open_fixture("bytesio.pt");
    CHECK(buffer.prefix() == "archive");
    const auto named = open_fixture("my.model.pt");
    CHECK(named.prefix() == "my.model");
    CHECK(open_fixture("views.pt").prefix() == "views");

    for (const ptio::checkpoint* ck : {&buffer, &named}) {
        CHECK(ck->format() == "zip");
        CHECK(ck->byteorder() == "little");
        REQUIRE_FALSE(ck->records().empty());
        CHECK(ck->records().front().name == "data.pkl");
        const bool has_version =
            std::any_of(ck->records().begin(), ck->records().end(),
                        [](const ptio::record_info& r) { return r.name == "version"; });
        CHECK(has_version);
        for (const ptio::record_info& r : ck->records()) CHECK(r.method == 0);
        CHECK(summarize(*ck) == summarize(buffer));  // same object, saved two ways
    }
    CHECK(named.file() == fixture("my.model.pt").string());
}

TEST_CASE("fixtures: opening the bytes in memory gives the same tensors") {
    for (const char* file : {"views.pt", "dtypes.pt", "training.pt", "nested.pt",
                             "bare_tensor.pt", "my.model.pt"}) {
        INFO("file ", file);
        const auto from_file = open_fixture(file);
        const auto expected = summarize(from_file);

        std::vector<std::byte> bytes = read_bytes(fixture(file));
        const std::vector<std::byte> kept = bytes;
        const auto owned = ptio::checkpoint::open(std::move(bytes), {}, file);
        CHECK(owned.file() == file);
        CHECK(owned.prefix() == from_file.prefix());
        CHECK(summarize(owned) == expected);

        const auto borrowed = ptio::checkpoint::open(std::span<const std::byte>(kept));
        CHECK(summarize(borrowed) == expected);
        if (!borrowed.tensors().empty()) {
            const std::byte* data = borrowed.tensors()[0].tensor->view().storage_bytes().data();
            CHECK(data >= kept.data());
            CHECK(data < kept.data() + kept.size());  // a view into the caller's bytes
        }
    }
}

TEST_CASE("fixtures: a bare tensor and a list at the root") {
    const auto bare = open_fixture("bare_tensor.pt");
    REQUIRE(bare.root().is(ptio::kind::tensor));
    REQUIRE(bare.tensors().size() == 1);
    CHECK(bare.tensors()[0].path.empty());
    CHECK(bare.tensors()[0].name.empty());
    CHECK(bare.tensors()[0].tensor == &bare.root().as_tensor());
    const auto& v = bare.root().as_tensor().view();
    for (std::int64_t i = 0; i < 2; ++i)
        for (std::int64_t j = 0; j < 5; ++j) CHECK(v.at<std::int64_t>({i, j}) == i * 5 + j);

    const auto list = open_fixture("list_root.pt");
    REQUIRE(list.root().is(ptio::kind::list));
    CHECK(list.root().size() == 4);
    CHECK(list.root().items()[3].is(ptio::kind::tuple));
    CHECK(names(list) == std::vector<std::string>{"0", "1", "2.a", "3.0"});
    const auto& first = list.at("0").view();
    const auto& rest = list.at("1").view();
    CHECK(rest.storage_bytes().data() == first.storage_bytes().data());
    CHECK(rest.storage_offset() == 1);
    CHECK(elements<double>(rest) == std::vector<double>{1, 2, 3, 4});
    CHECK(elements<std::uint8_t>(list.at("2.a").view()) == std::vector<std::uint8_t>{0, 0});
    CHECK(elements<float>(list.at("3.0").view()) == std::vector<float>{1});
}

TEST_CASE("fixtures: find and at") {
    const auto ck = open_fixture("my.model.pt");
    const ptio::named_tensor* a = ck.find("a");
    REQUIRE(a != nullptr);
    CHECK(a->name == "a");
    CHECK(a->path == std::vector<std::string>{"a"});
    CHECK(&ck.at("a") == a->tensor);
    CHECK(ck.find("b")->tensor->dtype() == ptio::dtype::int16);
    CHECK(ck.find("missing") == nullptr);
    CHECK(ck.find("") == nullptr);
    CHECK(ck.find("a.b") == nullptr);

    CHECK_THROWS_AS((void)ck.at("missing"), ptio::error);
    try {
        (void)ck.at("missing");
        FAIL("at() of a missing name did not throw");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::not_found);
        CHECK(std::string(e.what()).find("missing") != std::string::npos);
    }

    const auto nested = open_fixture("nested.pt");
    CHECK(nested.find("tensors.list.1.deep") != nullptr);
    CHECK(nested.find("7") != nullptr);
    CHECK(nested.find("tensors.list") == nullptr);  // a container, not a tensor
}

TEST_CASE("fixtures: every fixture opens and every tensor copies out") {
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(PTIO_FIXTURE_DIR)) {
        if (entry.path().extension() != ".pt") continue;
        INFO("file ", entry.path().string());
        const auto ck = ptio::checkpoint::open(entry.path());
        CHECK(ck.format() == "zip");
        for (const ptio::named_tensor& nt : ck.tensors()) {
            INFO("tensor ", nt.name);
            const ptio::tensor_view& v = nt.tensor->view();
            CHECK(v.to_contiguous().size() == v.nbytes());
            if (entry.path().filename() != "cuda_tags.pt")  // the one file saved with GPU tags
                CHECK(nt.tensor->location() == "cpu");
        }
        CHECK(ck.verify([](const ptio::error& e) { FAIL_CHECK(e.what()); }) == 0);
        ++files;
    }
    CHECK(files >= 17);
}

TEST_CASE("fixtures: storages saved with CUDA location tags keep them") {
    // make_fixtures.py's CUDA_TAGS: torch.save was told these tags while saving CPU tensors.
    const auto ck = open_fixture("cuda_tags.pt");
    CHECK(names(ck) == std::vector<std::string>{"w1", "w1_t", "w1_row", "w0", "c", "w1b"});
    const std::vector<std::pair<std::string, std::string>> tags{
        {"w1", "cuda:1"}, {"w1_t", "cuda:1"}, {"w1_row", "cuda:1"},
        {"w0", "cuda:0"}, {"c", "cpu"},       {"w1b", "cuda:1"}};
    for (const auto& [tensor_name, tag] : tags) {
        const std::string& name = tensor_name;  // clang < 16 cannot capture a binding (INFO)
        INFO("tensor ", name);
        CHECK(tensor_named(ck, name).location() == tag);
    }
    CHECK(tensor_named(ck, "w1_t").view().storage_key() == tensor_named(ck, "w1").view().storage_key());
    CHECK(tensor_named(ck, "w1_row").view().storage_offset() == 4);
    CHECK(elements<float>(tensor_named(ck, "w1_row").view()) == std::vector<float>{4, 5, 6, 7});
    CHECK(elements<std::int64_t>(tensor_named(ck, "w0").view()) ==
          std::vector<std::int64_t>{0, 3, 6, 9, 12});
    CHECK(elements<double>(tensor_named(ck, "c").view()) == std::vector<double>{1.5, -2.5});
    CHECK(elements<std::int32_t>(tensor_named(ck, "w1b").view()) ==
          std::vector<std::int32_t>{0, 1, 2, 3, 4, 5});
}
