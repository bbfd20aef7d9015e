// Tensors in files real torch wrote (tests/fixtures/make_fixtures.py, run by ctest as the
// fixtures.torch setup test into PTIO_FIXTURE_DIR): views share the bytes of one storage,
// element values of every dtype read through the public API, quantized, 0-dim and empty
// tensors, and the location tags storages were saved with.
//
// torch_oracle.py already compares every tensor's geometry, flags and element hash with what
// torch.load reports; these tests check what the oracle cannot see. Expected values are the
// ones the fixture script constructs; keep the two files in step.
#include <doctest/doctest.h>

#include <complex>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ptio/ptio.hpp>

#include "checkpoint/fixture_support.hpp"
#include "support/staging_support.hpp"

using namespace fixture_support;

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

// The fuzzer's first library finding (tests/fuzz/regressions/open/): a legacy or tar storage,
// which has no zip record, walked in chunks with verify_crc on read a null record.
TEST_CASE("checkpoint: every fixture, CRCs checked, walks in chunks as it copies") {
    ptio::open_options crc;
    crc.verify_crc = true;
    for (const auto& path : ptio_test::fixture_files()) {
        INFO(path.string());
        const auto ck = ptio::checkpoint::open(path, crc);
        for (const auto& t : ck.tensors()) {
            const auto& v = t.tensor->view();
            if (!v.has_data()) continue;
            std::vector<std::byte> walked;
            v.for_each_chunk(std::size_t{1} << 12, [&](std::span<const std::byte> piece) {
                walked.insert(walked.end(), piece.begin(), piece.end());
            });
            CHECK(walked == v.to_contiguous());
        }
    }
}
