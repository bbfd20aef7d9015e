// ptio/dtype.hpp — tensor element types with torch's names and sizes.
//
// Names are torch's canonical names without "torch." ("float32", "bfloat16", "bool"). The
// storage-class mapping is torch's: a class is matched by its name alone
// ("FloatStorage" whatever its module), TorchScript's "<ScalarType>Storage" names included.
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ptio {

enum class dtype : std::uint8_t {
    float64, float32, float16, bfloat16,
    int64, int32, int16, int8, uint8, boolean,
    complex32, complex64, complex128,
    qint8, quint8, qint32, quint4x2, quint2x4,
    uint16, uint32, uint64,
    float8_e5m2, float8_e4m3fn, float8_e5m2fnuz, float8_e4m3fnuz, float8_e8m0fnu,
    float4_e2m1fn_x2,
    bits8, bits16, bits1x8, bits2x4, bits4x2,
};

/// Every dtype, in declaration order.
inline constexpr dtype all_dtypes[] = {
    dtype::float64, dtype::float32, dtype::float16, dtype::bfloat16,
    dtype::int64, dtype::int32, dtype::int16, dtype::int8, dtype::uint8, dtype::boolean,
    dtype::complex32, dtype::complex64, dtype::complex128,
    dtype::qint8, dtype::quint8, dtype::qint32, dtype::quint4x2, dtype::quint2x4,
    dtype::uint16, dtype::uint32, dtype::uint64,
    dtype::float8_e5m2, dtype::float8_e4m3fn, dtype::float8_e5m2fnuz, dtype::float8_e4m3fnuz,
    dtype::float8_e8m0fnu, dtype::float4_e2m1fn_x2,
    dtype::bits8, dtype::bits16, dtype::bits1x8, dtype::bits2x4, dtype::bits4x2,
};

/// torch's name: "float32", "bool", "quint4x2", …
[[nodiscard]] std::string_view name(dtype t) noexcept;

/// Bytes per element as torch stores them (1 for the packed sub-byte types, whose sizes
/// count logical elements).
[[nodiscard]] std::size_t element_size(dtype t) noexcept;

/// Complex types byte-swap each half separately.
[[nodiscard]] bool is_complex(dtype t) noexcept;

/// Logical elements per byte: 2 for quint4x2, 4 for quint2x4, else 1. For those two packed
/// quantized types sizes and strides count logical elements while the storage holds bytes;
/// tensor_view refuses element access on them and copies only whole contiguous bytes.
[[nodiscard]] std::size_t elements_per_byte(dtype t) noexcept;

/// From torch's canonical name or a Python alias ("float", "half", "cfloat", …).
[[nodiscard]] std::optional<dtype> dtype_from_name(std::string_view name) noexcept;

/// From a storage class name ("FloatStorage", "ComplexHalfStorage", "UntypedStorage" → uint8).
[[nodiscard]] std::optional<dtype> dtype_from_storage_class(std::string_view class_name) noexcept;

/// The typed storage class torch.save uses for t ("FloatStorage"), or empty for the dtypes
/// torch saves through _rebuild_tensor_v3 with an UntypedStorage.
[[nodiscard]] std::string_view storage_class(dtype t) noexcept;

}  // namespace ptio
