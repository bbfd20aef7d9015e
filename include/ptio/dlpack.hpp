// ptio/dlpack.hpp — hand tensors to other frameworks (numpy, cupy, jax, torch) through DLPack.
//
//   auto ck = std::make_shared<const ptio::checkpoint>(ptio::checkpoint::open(path, cow));
//   ptio::dlpack::versioned_ptr m = ptio::to_dlpack(ck, ck->at("fc.weight"));
//   consumer_takes(m.release());   // the consumer calls m->deleter when it is done
//
// The ABI structs below are DLPack 1.1's, declared here with DLPack's own names, layouts and
// numeric values, so that ptio depends on no DLPack package (Debian's is 0.6, which lacks the
// versioned struct). A consumer compiled against the official dlpack.h reads them unchanged.
//
// Ownership: every export is a new heap object holding a std::shared_ptr to what owns the
// bytes (the checkpoint and its mapping, or the loaded and its device memory) and the shape
// and strides arrays. The bytes stay valid until the export's deleter runs, however long
// that is after the caller dropped its own reference. versioned_ptr / legacy_ptr call the
// deleter when they die; release() hands the export to a consumer, which must call
// `deleter(self)` exactly once.
// Thread-safety: the functions may be called from many threads at once; an export may be
// deleted on any thread. Nothing synchronises writers with readers of the same bytes.
// Failure: ptio::error (invalid_argument) for a dtype DLPack cannot express (quantized,
// bits*, the packed quint4x2 / quint2x4), a tensor torch marks conjugated or negated (DLPack
// has no flag for them; torch's own to_dlpack refuses conj too), a meta tensor or a view
// without data, and inconsistent raw input; anything the tensor's storage throws when its
// bytes are first located (a bad local header, a record that does not inflate); for a loaded
// tensor, the load's error (wait() is called first). Memory exhaustion: std::bad_alloc.
// The legacy (pre-1.0) form has no flags: it cannot say that a view is read-only, so a
// consumer may write through it. Writing into a read-only mapping kills the process
// (SIGSEGV), so hand legacy exports of file views only to consumers that do not write, or
// open the checkpoint with open_options::copy_on_write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "ptio/checkpoint.hpp"
#include "ptio/device.hpp"
#include "ptio/dtype.hpp"
#include "ptio/load.hpp"
#include "ptio/tensor.hpp"

namespace ptio {

namespace dlpack {

/// The DLPack version these structs implement (the version field of every versioned export).
inline constexpr std::uint32_t major_version = 1;
inline constexpr std::uint32_t minor_version = 1;

// DLPack's names below are kept as the standard spells them (not snake_case), so that code
// and documentation written against dlpack.h read the same here.

struct DLPackVersion {
    std::uint32_t major;
    std::uint32_t minor;
};

enum DLDeviceType : std::int32_t {
    kDLCPU = 1,
    kDLCUDA = 2,
    kDLCUDAHost = 3,
    kDLOpenCL = 4,
    kDLVulkan = 7,
    kDLMetal = 8,
    kDLVPI = 9,
    kDLROCM = 10,
    kDLROCMHost = 11,
    kDLExtDev = 12,
    kDLCUDAManaged = 13,
    kDLOneAPI = 14,
    kDLWebGPU = 15,
    kDLHexagon = 16,
    kDLMAIA = 17,
};

struct DLDevice {
    DLDeviceType device_type;
    std::int32_t device_id;  ///< the CUDA ordinal; 0 for the CPU
};

/// Values of DLDataType::code.
enum DLDataTypeCode : std::uint8_t {
    kDLInt = 0,
    kDLUInt = 1,
    kDLFloat = 2,
    kDLOpaqueHandle = 3,
    kDLBfloat = 4,
    kDLComplex = 5,
    kDLBool = 6,
    kDLFloat8_e3m4 = 7,
    kDLFloat8_e4m3 = 8,
    kDLFloat8_e4m3b11fnuz = 9,
    kDLFloat8_e4m3fn = 10,
    kDLFloat8_e4m3fnuz = 11,
    kDLFloat8_e5m2 = 12,
    kDLFloat8_e5m2fnuz = 13,
    kDLFloat8_e8m0fnu = 14,
    kDLFloat6_e2m3fn = 15,
    kDLFloat6_e3m2fn = 16,
    kDLFloat4_e2m1fn = 17,
};

struct DLDataType {
    std::uint8_t code;    ///< a DLDataTypeCode
    std::uint8_t bits;    ///< per lane
    std::uint16_t lanes;  ///< 1 except for vector types (torch's float4_e2m1fn_x2: 2 lanes of 4 bits)
};

struct DLTensor {
    void* data;               ///< storage start (host or device address); byte_offset reaches the first element
    DLDevice device;
    std::int32_t ndim;
    DLDataType dtype;
    std::int64_t* shape;      ///< ndim entries
    std::int64_t* strides;    ///< ndim entries, in elements; never null here
    std::uint64_t byte_offset;
};

struct DLManagedTensor {
    DLTensor dl_tensor;
    void* manager_ctx;
    void (*deleter)(DLManagedTensor* self);
};

/// The tensor's bytes must not be written (a view of a read-only mapping).
inline constexpr std::uint64_t flag_read_only = std::uint64_t{1} << 0;
/// The producer made a copy the consumer owns alone (ptio never sets it: exports are views).
inline constexpr std::uint64_t flag_is_copied = std::uint64_t{1} << 1;
/// Sub-byte elements are padded to a byte each rather than packed (ptio never sets it).
inline constexpr std::uint64_t flag_is_subbyte_type_padded = std::uint64_t{1} << 2;

struct DLManagedTensorVersioned {
    DLPackVersion version;
    void* manager_ctx;
    void (*deleter)(DLManagedTensorVersioned* self);
    std::uint64_t flags;  ///< flag_* bits
    DLTensor dl_tensor;
};

/// Calls an export's deleter (if it has one); a null pointer is ignored.
struct managed_deleter {
    void operator()(DLManagedTensorVersioned* p) const noexcept {
        if (p != nullptr && p->deleter != nullptr) p->deleter(p);
    }
    void operator()(DLManagedTensor* p) const noexcept {
        if (p != nullptr && p->deleter != nullptr) p->deleter(p);
    }
};
using versioned_ptr = std::unique_ptr<DLManagedTensorVersioned, managed_deleter>;
using legacy_ptr = std::unique_ptr<DLManagedTensor, managed_deleter>;

/// DLPack's type for a ptio dtype, or nullopt for those it has none for: the quantized types
/// (qint8, quint8, qint32, quint4x2, quint2x4) and bits8 … bits4x2. bool is kDLBool of 8
/// bits; complex32/64/128 are kDLComplex of 32/64/128 bits; float4_e2m1fn_x2 (two values
/// per byte) is kDLFloat4_e2m1fn with 4 bits and 2 lanes, as torch exports it.
[[nodiscard]] std::optional<DLDataType> data_type(ptio::dtype t) noexcept;

/// Move byte_offset into data (data += byte_offset, byte_offset = 0). ptio's exports keep
/// data at the storage start and the element offset in byte_offset, as DLPack describes;
/// Python's DLPack protocol asks producers for byte_offset 0 instead, because consumers have
/// long ignored the field (torch 1.13's from_dlpack does) and then read from the storage
/// start. Call it on an export before handing it to such a consumer; valid
/// for CPU and CUDA addresses, which are plain pointers.
void fold_byte_offset(DLTensor& t) noexcept;

/// DLPack's device for a ptio device: kDLCPU (id 0) or kDLCUDA (id = ordinal); nullopt for meta.
[[nodiscard]] std::optional<DLDevice> device_of(const ptio::device& d) noexcept;

}  // namespace dlpack

/// Any bytes to export: what the raw builders need.
struct dlpack_view {
    /// Kept alive by the export until its deleter runs (may be null when the caller keeps
    /// the bytes alive some other way).
    std::shared_ptr<const void> owner;
    /// Storage start: the DLTensor's data. May be null only when the tensor has no elements.
    const void* data = nullptr;
    ptio::device device;  ///< cpu or cuda
    ptio::dtype dtype = ptio::dtype::float32;
    std::span<const std::int64_t> shape;    ///< copied into the export
    std::span<const std::int64_t> strides;  ///< in elements, as many as shape; copied
    std::uint64_t byte_offset = 0;          ///< from data to the element at all-zero indices
    bool read_only = true;                  ///< sets dlpack::flag_read_only (versioned form)
};

/// A new versioned export of `v`. Throws invalid_argument for a meta device, a dtype DLPack
/// lacks, shape and strides of different lengths, a negative size, or null data with elements.
[[nodiscard]] dlpack::versioned_ptr to_dlpack(const dlpack_view& v);
/// The same as a legacy DLManagedTensor (no version, no flags: read_only is not conveyed).
[[nodiscard]] dlpack::legacy_ptr to_dlpack_legacy(const dlpack_view& v);

/// A CPU view of a checkpoint's tensor `t` (which must be one of `ck`'s): data is the start
/// of its storage (the mapping, or ptio's copy for a deflated or byte-swapped record),
/// byte_offset is storage_offset × element size, shape and strides are the file's. The
/// export shares ownership of `ck`, so the mapping outlives every other reference to it.
/// read_only defaults to !ck->is_copy_on_write(); asking for a writable export of a
/// checkpoint that is not copy-on-write throws invalid_argument (its pages may be read-only).
[[nodiscard]] dlpack::versioned_ptr to_dlpack(std::shared_ptr<const checkpoint> ck, const tensor& t,
                                              std::optional<bool> read_only = std::nullopt);
/// The same as a legacy DLManagedTensor.
[[nodiscard]] dlpack::legacy_ptr to_dlpack_legacy(std::shared_ptr<const checkpoint> ck,
                                                  const tensor& t);

/// A placed tensor of `lo` (CPU or CUDA, kDLCUDA with device_id = the ordinal). Waits for
/// the tensor to be ready first (throwing the load's error, or cancelled). read-only exactly
/// when device_tensor::writable() is false. The export shares ownership of `lo`, so the
/// device memory outlives every other reference to it. Throws not_found when `dt` is not
/// one of `lo`'s tensors, invalid_argument for a meta tensor.
[[nodiscard]] dlpack::versioned_ptr to_dlpack(std::shared_ptr<const loaded> lo, const device_tensor& dt);
/// The same as a legacy DLManagedTensor.
[[nodiscard]] dlpack::legacy_ptr to_dlpack_legacy(std::shared_ptr<const loaded> lo,
                                                  const device_tensor& dt);

}  // namespace ptio
