#include "ptio/dtype.hpp"

#include <array>

namespace ptio {
namespace {

struct dtype_row {
    dtype type;
    std::string_view name;
    std::size_t size;
    std::string_view storage;     // torch.save's typed storage class, "" for v3 dtypes
    std::string_view jit_storage; // TorchScript's <ScalarType>Storage name
};

// One row per dtype: its name, element size and the two storage-class names torch uses.
constexpr std::array<dtype_row, 32> rows{{
    {dtype::float64, "float64", 8, "DoubleStorage", "DoubleStorage"},
    {dtype::float32, "float32", 4, "FloatStorage", "FloatStorage"},
    {dtype::float16, "float16", 2, "HalfStorage", "HalfStorage"},
    {dtype::bfloat16, "bfloat16", 2, "BFloat16Storage", "BFloat16Storage"},
    {dtype::int64, "int64", 8, "LongStorage", "LongStorage"},
    {dtype::int32, "int32", 4, "IntStorage", "IntStorage"},
    {dtype::int16, "int16", 2, "ShortStorage", "ShortStorage"},
    {dtype::int8, "int8", 1, "CharStorage", "CharStorage"},
    {dtype::uint8, "uint8", 1, "ByteStorage", "ByteStorage"},
    {dtype::boolean, "bool", 1, "BoolStorage", "BoolStorage"},
    {dtype::complex32, "complex32", 4, "", "ComplexHalfStorage"},
    {dtype::complex64, "complex64", 8, "ComplexFloatStorage", "ComplexFloatStorage"},
    {dtype::complex128, "complex128", 16, "ComplexDoubleStorage", "ComplexDoubleStorage"},
    {dtype::qint8, "qint8", 1, "QInt8Storage", "QInt8Storage"},
    {dtype::quint8, "quint8", 1, "QUInt8Storage", "QUInt8Storage"},
    {dtype::qint32, "qint32", 4, "QInt32Storage", "QInt32Storage"},
    {dtype::quint4x2, "quint4x2", 1, "QUInt4x2Storage", "QUInt4x2Storage"},
    {dtype::quint2x4, "quint2x4", 1, "QUInt2x4Storage", "QUInt2x4Storage"},
    {dtype::uint16, "uint16", 2, "", "UInt16Storage"},
    {dtype::uint32, "uint32", 4, "", "UInt32Storage"},
    {dtype::uint64, "uint64", 8, "", "UInt64Storage"},
    {dtype::float8_e5m2, "float8_e5m2", 1, "", "Float8_e5m2Storage"},
    {dtype::float8_e4m3fn, "float8_e4m3fn", 1, "", "Float8_e4m3fnStorage"},
    {dtype::float8_e5m2fnuz, "float8_e5m2fnuz", 1, "", "Float8_e5m2fnuzStorage"},
    {dtype::float8_e4m3fnuz, "float8_e4m3fnuz", 1, "", "Float8_e4m3fnuzStorage"},
    {dtype::float8_e8m0fnu, "float8_e8m0fnu", 1, "", "Float8_e8m0fnuStorage"},
    {dtype::float4_e2m1fn_x2, "float4_e2m1fn_x2", 1, "", "Float4_e2m1fn_x2Storage"},
    {dtype::bits8, "bits8", 1, "", "Bits8Storage"},
    {dtype::bits16, "bits16", 2, "", "Bits16Storage"},
    {dtype::bits1x8, "bits1x8", 1, "", "Bits1x8Storage"},
    {dtype::bits2x4, "bits2x4", 1, "", "Bits2x4Storage"},
    {dtype::bits4x2, "bits4x2", 1, "", "Bits4x2Storage"},
}};

constexpr const dtype_row& row(dtype t) noexcept { return rows[static_cast<std::size_t>(t)]; }

struct alias {
    std::string_view name;
    dtype type;
};
constexpr std::array<alias, 11> aliases{{
    {"float", dtype::float32}, {"double", dtype::float64}, {"half", dtype::float16},
    {"long", dtype::int64}, {"int", dtype::int32}, {"short", dtype::int16},
    {"cfloat", dtype::complex64}, {"cdouble", dtype::complex128}, {"chalf", dtype::complex32},
    {"complex", dtype::complex64}, {"uint", dtype::uint32},
}};

}  // namespace

std::string_view name(dtype t) noexcept { return row(t).name; }
std::size_t element_size(dtype t) noexcept { return row(t).size; }
bool is_complex(dtype t) noexcept {
    return t == dtype::complex32 || t == dtype::complex64 || t == dtype::complex128;
}
std::size_t elements_per_byte(dtype t) noexcept {
    return t == dtype::quint4x2 ? 2 : t == dtype::quint2x4 ? 4 : 1;
}

std::optional<dtype> dtype_from_name(std::string_view n) noexcept {
    for (const auto& r : rows)
        if (r.name == n) return r.type;
    for (const auto& a : aliases)
        if (a.name == n) return a.type;
    return std::nullopt;
}

std::optional<dtype> dtype_from_storage_class(std::string_view c) noexcept {
    if (c == "UntypedStorage" || c == "TypedStorage" || c == "ByteStorage") return dtype::uint8;
    for (const auto& r : rows)
        if ((!r.storage.empty() && r.storage == c) || r.jit_storage == c) return r.type;
    return std::nullopt;
}

std::string_view storage_class(dtype t) noexcept { return row(t).storage; }

}  // namespace ptio
