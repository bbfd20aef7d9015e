// DLPack exports: checkpoint views and placed tensors as DLManagedTensor(Versioned).
//
// One heap object per export holds the managed struct itself (first, so a consumer's pointer
// is also ours), the owner reference, and the shape and strides arrays the DLTensor points
// into; the deleter destroys that object, which drops the owner reference. Both the
// versioned and the legacy form are built by one template over the managed struct.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "ptio/dlpack.hpp"
#include "ptio/error.hpp"

namespace ptio {

namespace dlpack {

std::optional<DLDataType> data_type(ptio::dtype t) noexcept {
    auto of = [](DLDataTypeCode code, unsigned bits, unsigned lanes = 1) {
        return DLDataType{code, static_cast<std::uint8_t>(bits), static_cast<std::uint16_t>(lanes)};
    };
    switch (t) {
        case dtype::float64: return of(kDLFloat, 64);
        case dtype::float32: return of(kDLFloat, 32);
        case dtype::float16: return of(kDLFloat, 16);
        case dtype::bfloat16: return of(kDLBfloat, 16);
        case dtype::int64: return of(kDLInt, 64);
        case dtype::int32: return of(kDLInt, 32);
        case dtype::int16: return of(kDLInt, 16);
        case dtype::int8: return of(kDLInt, 8);
        case dtype::uint8: return of(kDLUInt, 8);
        case dtype::uint16: return of(kDLUInt, 16);
        case dtype::uint32: return of(kDLUInt, 32);
        case dtype::uint64: return of(kDLUInt, 64);
        // DLPack's bool is a byte per element, as torch stores it.
        case dtype::boolean: return of(kDLBool, 8);
        case dtype::complex32: return of(kDLComplex, 32);
        case dtype::complex64: return of(kDLComplex, 64);
        case dtype::complex128: return of(kDLComplex, 128);
        case dtype::float8_e5m2: return of(kDLFloat8_e5m2, 8);
        case dtype::float8_e4m3fn: return of(kDLFloat8_e4m3fn, 8);
        case dtype::float8_e5m2fnuz: return of(kDLFloat8_e5m2fnuz, 8);
        case dtype::float8_e4m3fnuz: return of(kDLFloat8_e4m3fnuz, 8);
        case dtype::float8_e8m0fnu: return of(kDLFloat8_e8m0fnu, 8);
        // torch's element is a byte holding two fp4 values; as torch does, two lanes of 4
        // bits keep its shape and strides (one lane would need the last size doubled).
        case dtype::float4_e2m1fn_x2: return of(kDLFloat4_e2m1fn, 4, 2);
        // Quantized values mean nothing without their scale and zero point, which DLPack
        // cannot carry; the bits* types are untyped; the packed types count sub-byte
        // elements that DLPack's strides cannot address.
        case dtype::qint8: case dtype::quint8: case dtype::qint32:
        case dtype::quint4x2: case dtype::quint2x4:
        case dtype::bits8: case dtype::bits16: case dtype::bits1x8: case dtype::bits2x4:
        case dtype::bits4x2:
            return std::nullopt;
    }
    return std::nullopt;
}

void fold_byte_offset(DLTensor& t) noexcept {
    if (t.data != nullptr) t.data = static_cast<std::byte*>(t.data) + t.byte_offset;
    t.byte_offset = 0;
}

std::optional<DLDevice> device_of(const ptio::device& d) noexcept {
    if (d.is_cpu()) return DLDevice{kDLCPU, 0};
    if (d.is_cuda()) return DLDevice{kDLCUDA, d.ordinal()};
    return std::nullopt;
}

}  // namespace dlpack

namespace {

using dlpack::DLManagedTensor;
using dlpack::DLManagedTensorVersioned;

template <class Managed>
struct holder {
    Managed managed{};  // first: the consumer's pointer converts back to the holder
    std::shared_ptr<const void> owner;
    std::unique_ptr<std::int64_t[]> dims;  // shape, then strides

    static void release(Managed* self) noexcept { delete static_cast<holder*>(self->manager_ctx); }
};

[[noreturn]] void refuse(const std::string& what) { throw error(errc::invalid_argument, what); }

dlpack::DLTensor describe(const dlpack_view& v, std::int64_t* dims) {
    const auto dtype = dlpack::data_type(v.dtype);
    if (!dtype) refuse("DLPack has no type for dtype " + std::string(name(v.dtype)));
    const auto device = dlpack::device_of(v.device);
    if (!device) refuse("a " + v.device.str() + " tensor has no data to export through DLPack");
    if (v.shape.size() != v.strides.size())
        refuse("DLPack export: " + std::to_string(v.shape.size()) + " sizes but " +
               std::to_string(v.strides.size()) + " strides");
    if (v.shape.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
        refuse("DLPack export: too many dimensions");
    bool empty = false;
    for (std::size_t i = 0; i < v.shape.size(); ++i) {
        if (v.shape[i] < 0) refuse("DLPack export: negative size " + std::to_string(v.shape[i]));
        empty = empty || v.shape[i] == 0;
        dims[i] = v.shape[i];
        dims[v.shape.size() + i] = v.strides[i];
    }
    if (v.data == nullptr && !empty) refuse("DLPack export: a tensor with elements but no data");
    const auto ndim = static_cast<std::int32_t>(v.shape.size());
    return {const_cast<void*>(v.data), *device, ndim, *dtype, dims, dims + ndim, v.byte_offset};
}

template <class Managed>
std::unique_ptr<Managed, dlpack::managed_deleter> build(const dlpack_view& v) {
    auto h = std::make_unique<holder<Managed>>();
    // new[] of zero elements still gives a distinct pointer: strides are never null.
    h->dims = std::make_unique<std::int64_t[]>(2 * v.shape.size());
    h->managed.dl_tensor = describe(v, h->dims.get());
    h->owner = v.owner;
    h->managed.manager_ctx = h.get();
    h->managed.deleter = &holder<Managed>::release;
    if constexpr (std::is_same_v<Managed, DLManagedTensorVersioned>) {
        h->managed.version = {dlpack::major_version, dlpack::minor_version};
        h->managed.flags = v.read_only ? dlpack::flag_read_only : 0;
    }
    return std::unique_ptr<Managed, dlpack::managed_deleter>(&h.release()->managed);
}

void refuse_lazy(const tensor& t, const std::string& file) {
    if (t.is_conj() || t.is_neg())
        throw error(errc::invalid_argument, file, std::string(t.view().storage_key()), std::nullopt,
                    std::string("a ") + (t.is_conj() ? "conjugated" : "negated") +
                        " view cannot be exported through DLPack, which has no flag for it; "
                        "resolve it (copy its elements and apply resolve_conj_neg) first");
}

dlpack_view view_of(std::shared_ptr<const checkpoint> ck, const tensor& t, bool read_only) {
    if (!ck) refuse("DLPack export: no checkpoint");
    refuse_lazy(t, ck->file());
    const tensor_view& v = t.view();
    if (!v.has_data())
        throw error(errc::invalid_argument, ck->file(), {}, std::nullopt,
                    "a tensor without data (saved on meta) cannot be exported through DLPack");
    if (!read_only && !ck->is_copy_on_write())
        throw error(errc::invalid_argument, ck->file(), {}, std::nullopt,
                    "a writable DLPack export needs a checkpoint opened with "
                    "open_options::copy_on_write");
    const void* data = v.storage_bytes().data();
    return {std::move(ck), data, device::cpu(), v.dtype(), v.shape(), v.strides(), v.data_offset(),
            read_only};
}

dlpack_view view_of(std::shared_ptr<const loaded> lo, const device_tensor& dt) {
    if (!lo) refuse("DLPack export: no loaded checkpoint");
    const std::string& file = lo->source().file();
    if (&lo->placement(dt.source()) != &dt)
        throw error(errc::not_found, file, {}, std::nullopt,
                    "the device tensor is not one of this load's");
    refuse_lazy(dt.source(), file);
    if (dt.device().is_meta())
        throw error(errc::invalid_argument, file, {}, std::nullopt,
                    "a meta tensor has no data to export through DLPack");
    dt.wait();
    return {std::move(lo), dt.storage_data(), dt.device(), dt.dtype(), dt.shape(), dt.strides(),
            dt.source().view().data_offset(), !dt.writable()};
}

}  // namespace

dlpack::versioned_ptr to_dlpack(const dlpack_view& v) { return build<DLManagedTensorVersioned>(v); }
dlpack::legacy_ptr to_dlpack_legacy(const dlpack_view& v) { return build<DLManagedTensor>(v); }

dlpack::versioned_ptr to_dlpack(std::shared_ptr<const checkpoint> ck, const tensor& t,
                                std::optional<bool> read_only) {
    const bool ro = read_only.value_or(!ck || !ck->is_copy_on_write());
    return to_dlpack(view_of(std::move(ck), t, ro));
}

dlpack::legacy_ptr to_dlpack_legacy(std::shared_ptr<const checkpoint> ck, const tensor& t) {
    const bool ro = !ck || !ck->is_copy_on_write();
    return to_dlpack_legacy(view_of(std::move(ck), t, ro));
}

dlpack::versioned_ptr to_dlpack(std::shared_ptr<const loaded> lo, const device_tensor& dt) {
    return to_dlpack(view_of(std::move(lo), dt));
}

dlpack::legacy_ptr to_dlpack_legacy(std::shared_ptr<const loaded> lo, const device_tensor& dt) {
    return to_dlpack_legacy(view_of(std::move(lo), dt));
}

}  // namespace ptio
