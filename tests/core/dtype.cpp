#include <doctest/doctest.h>

#include <ptio/dtype.hpp>

TEST_CASE("dtype: names round-trip and sizes follow torch") {
    for (auto t : ptio::all_dtypes) {
        INFO(ptio::name(t));
        CHECK(ptio::dtype_from_name(ptio::name(t)) == t);
        CHECK(ptio::element_size(t) >= 1);
    }
    CHECK(ptio::element_size(ptio::dtype::float64) == 8);
    CHECK(ptio::element_size(ptio::dtype::complex32) == 4);
    CHECK(ptio::element_size(ptio::dtype::complex128) == 16);
    CHECK(ptio::element_size(ptio::dtype::bits16) == 2);
    CHECK(ptio::name(ptio::dtype::boolean) == "bool");
    CHECK(ptio::dtype_from_name("half") == ptio::dtype::float16);
    CHECK_FALSE(ptio::dtype_from_name("float33").has_value());
}

TEST_CASE("dtype: storage classes map by name, TorchScript names included") {
    CHECK(ptio::dtype_from_storage_class("FloatStorage") == ptio::dtype::float32);
    CHECK(ptio::dtype_from_storage_class("BFloat16Storage") == ptio::dtype::bfloat16);
    CHECK(ptio::dtype_from_storage_class("UntypedStorage") == ptio::dtype::uint8);
    CHECK(ptio::dtype_from_storage_class("ComplexHalfStorage") == ptio::dtype::complex32);
    CHECK(ptio::dtype_from_storage_class("Float8_e4m3fnStorage") == ptio::dtype::float8_e4m3fn);
    CHECK_FALSE(ptio::dtype_from_storage_class("NoSuchStorage").has_value());
    CHECK(ptio::storage_class(ptio::dtype::int64) == "LongStorage");
    CHECK(ptio::storage_class(ptio::dtype::uint16).empty());  // saved through v3
}
