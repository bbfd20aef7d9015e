// DLPack exports (ptio/dlpack.hpp): the ABI against Debian's dlpack.h 0.6 where both have a
// struct, torch-written fixtures exported and read back the way a consumer reads a DLTensor
// (data + byte_offset, strides in elements), the flags, the deleter and the owner's
// lifetime, the legacy form, refused dtypes and lazy views, and placed tensors of a load.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <ptio/ptio.hpp>

#if PTIO_HAVE_DLPACK_H
#include <dlpack/dlpack.h>
#endif

#include "support/staging_support.hpp"

namespace {

namespace dl = ptio::dlpack;
namespace fs = std::filesystem;
using ptio_test::fixture;

std::shared_ptr<const ptio::checkpoint> open_shared(const fs::path& path, bool cow) {
    ptio::open_options o;
    o.copy_on_write = cow;
    return std::make_shared<const ptio::checkpoint>(ptio::checkpoint::open(path, o));
}

// The elements a DLTensor shows, in row-major order, read as a consumer reads them: from
// data + byte_offset, stepping strides (in elements) of bits × lanes / 8 bytes each.
std::vector<std::byte> gather(const dl::DLTensor& t) {
    const std::size_t size = (std::size_t{t.dtype.bits} * t.dtype.lanes + 7) / 8;
    std::int64_t count = 1;
    for (std::int32_t d = 0; d < t.ndim; ++d) count *= t.shape[d];
    std::vector<std::byte> out(static_cast<std::size_t>(count) * size);
    const auto* base = static_cast<const std::byte*>(t.data) + t.byte_offset;
    std::vector<std::int64_t> index(static_cast<std::size_t>(t.ndim), 0);
    for (std::int64_t n = 0; n < count; ++n) {
        std::int64_t at = 0;
        for (std::int32_t d = 0; d < t.ndim; ++d) at += index[d] * t.strides[d];
        std::memcpy(out.data() + n * size, base + at * static_cast<std::int64_t>(size), size);
        for (std::int32_t d = t.ndim - 1; d >= 0; --d) {
            if (++index[d] < t.shape[d]) break;
            index[d] = 0;
        }
    }
    return out;
}

std::vector<std::int64_t> dims(const std::int64_t* p, std::int32_t n) { return {p, p + n}; }
std::vector<std::int64_t> dims(std::span<const std::int64_t> s) { return {s.begin(), s.end()}; }

// Everything an export of `t` must say, checked against the view; its elements against
// `expect` (taken from an independent open, so a wrong pointer or offset shows).
void check_export(const dl::DLTensor& d, const ptio::tensor& t, const std::vector<std::byte>& expect) {
    const ptio::tensor_view& v = t.view();
    CHECK(d.data == v.storage_bytes().data());
    CHECK(d.byte_offset == v.data_offset());
    CHECK(d.device.device_type == dl::kDLCPU);
    CHECK(d.device.device_id == 0);
    CHECK(d.ndim == static_cast<std::int32_t>(v.dim()));
    CHECK(dims(d.shape, d.ndim) == dims(v.shape()));
    REQUIRE(d.strides != nullptr);
    CHECK(dims(d.strides, d.ndim) == dims(v.strides()));
    const auto type = dl::data_type(v.dtype());
    REQUIRE(type.has_value());
    CHECK(d.dtype.code == type->code);
    CHECK(d.dtype.bits * d.dtype.lanes == 8 * v.element_size());
    CHECK(gather(d) == expect);
}

}  // namespace

#if PTIO_HAVE_DLPACK_H
// Debian's dlpack.h is 0.6: the structs it has must match ours byte for byte.
TEST_CASE("dlpack: the ABI matches dlpack.h where 0.6 has the struct") {
    CHECK(sizeof(dl::DLDevice) == sizeof(::DLDevice));
    CHECK(offsetof(dl::DLDevice, device_id) == offsetof(::DLDevice, device_id));
    CHECK(sizeof(dl::DLDataType) == sizeof(::DLDataType));
    CHECK(offsetof(dl::DLDataType, bits) == offsetof(::DLDataType, bits));
    CHECK(offsetof(dl::DLDataType, lanes) == offsetof(::DLDataType, lanes));
    CHECK(sizeof(dl::DLTensor) == sizeof(::DLTensor));
    CHECK(alignof(dl::DLTensor) == alignof(::DLTensor));
    CHECK(offsetof(dl::DLTensor, device) == offsetof(::DLTensor, device));
    CHECK(offsetof(dl::DLTensor, ndim) == offsetof(::DLTensor, ndim));
    CHECK(offsetof(dl::DLTensor, dtype) == offsetof(::DLTensor, dtype));
    CHECK(offsetof(dl::DLTensor, shape) == offsetof(::DLTensor, shape));
    CHECK(offsetof(dl::DLTensor, strides) == offsetof(::DLTensor, strides));
    CHECK(offsetof(dl::DLTensor, byte_offset) == offsetof(::DLTensor, byte_offset));
    CHECK(sizeof(dl::DLManagedTensor) == sizeof(::DLManagedTensor));
    CHECK(offsetof(dl::DLManagedTensor, manager_ctx) == offsetof(::DLManagedTensor, manager_ctx));
    CHECK(offsetof(dl::DLManagedTensor, deleter) == offsetof(::DLManagedTensor, deleter));
    // Enumerators 0.6 has keep their values.
    CHECK(int{dl::kDLCPU} == int{::kDLCPU});
    CHECK(int{dl::kDLCUDA} == int{::kDLCUDA});
    CHECK(int{dl::kDLCUDAHost} == int{::kDLCUDAHost});
    CHECK(int{dl::kDLROCM} == int{::kDLROCM});
    CHECK(int{dl::kDLCUDAManaged} == int{::kDLCUDAManaged});
    CHECK(int{dl::kDLInt} == int{::kDLInt});
    CHECK(int{dl::kDLUInt} == int{::kDLUInt});
    CHECK(int{dl::kDLFloat} == int{::kDLFloat});
    CHECK(int{dl::kDLBfloat} == int{::kDLBfloat});
    CHECK(int{dl::kDLComplex} == int{::kDLComplex});
}
#endif

TEST_CASE("dlpack: the versioned struct has 1.x's layout") {
    // 1.0 put version, manager_ctx, deleter and flags before the tensor; a major version
    // promises these first fields stay where they are.
    CHECK(offsetof(dl::DLManagedTensorVersioned, version) == 0);
    CHECK(offsetof(dl::DLManagedTensorVersioned, manager_ctx) == 8);
    CHECK(offsetof(dl::DLManagedTensorVersioned, deleter) == 8 + sizeof(void*));
    CHECK(offsetof(dl::DLManagedTensorVersioned, flags) == 8 + 2 * sizeof(void*));
    CHECK(offsetof(dl::DLManagedTensorVersioned, dl_tensor) == 16 + 2 * sizeof(void*));
    CHECK(sizeof(dl::DLManagedTensorVersioned) == 16 + 2 * sizeof(void*) + sizeof(dl::DLTensor));
    CHECK(dl::flag_read_only == 1);
    CHECK(dl::flag_is_copied == 2);
    CHECK(int{dl::kDLBool} == 6);
    CHECK(int{dl::kDLFloat8_e4m3fn} == 10);
    CHECK(int{dl::kDLFloat8_e5m2} == 12);
    CHECK(int{dl::kDLFloat8_e8m0fnu} == 14);
    CHECK(int{dl::kDLFloat4_e2m1fn} == 17);
}

TEST_CASE("dlpack: dtypes map to DLPack's codes, or are refused") {
    struct row { ptio::dtype t; int code, bits, lanes; };
    const row rows[] = {
        {ptio::dtype::float32, dl::kDLFloat, 32, 1},   {ptio::dtype::bfloat16, dl::kDLBfloat, 16, 1},
        {ptio::dtype::boolean, dl::kDLBool, 8, 1},     {ptio::dtype::uint8, dl::kDLUInt, 8, 1},
        {ptio::dtype::uint64, dl::kDLUInt, 64, 1},     {ptio::dtype::int16, dl::kDLInt, 16, 1},
        {ptio::dtype::complex32, dl::kDLComplex, 32, 1},
        {ptio::dtype::complex128, dl::kDLComplex, 128, 1},
        {ptio::dtype::float8_e4m3fnuz, dl::kDLFloat8_e4m3fnuz, 8, 1},
        {ptio::dtype::float8_e5m2fnuz, dl::kDLFloat8_e5m2fnuz, 8, 1},
        {ptio::dtype::float4_e2m1fn_x2, dl::kDLFloat4_e2m1fn, 4, 2},
    };
    for (const row& r : rows) {
        INFO(std::string(ptio::name(r.t)));
        const auto d = dl::data_type(r.t);
        REQUIRE(d.has_value());
        CHECK(int{d->code} == r.code);
        CHECK(int{d->bits} == r.bits);
        CHECK(int{d->lanes} == r.lanes);
    }
    std::size_t expressible = 0;
    for (ptio::dtype t : ptio::all_dtypes) {
        const auto d = dl::data_type(t);
        if (!d) continue;
        ++expressible;
        INFO(std::string(ptio::name(t)));
        CHECK(std::size_t{d->bits} * d->lanes == 8 * ptio::element_size(t));
    }
    CHECK(expressible == 22);  // all 32 but the 5 quantized and the 5 bits* types
    for (ptio::dtype t : {ptio::dtype::qint8, ptio::dtype::quint4x2, ptio::dtype::bits8,
                          ptio::dtype::bits1x8})
        CHECK_FALSE(dl::data_type(t).has_value());
}

TEST_CASE("dlpack: every tensor of a fixture, exported and read back as a consumer reads it") {
    for (const char* file : {"views.pt", "dtypes.pt", "empty.pt"}) {
        INFO(file);
        auto ck = open_shared(fixture(file), true);
        const auto independent = ptio::checkpoint::open(fixture(file));
        for (const ptio::named_tensor& nt : ck->tensors()) {
            INFO(nt.name);
            const std::vector<std::byte> expect = independent.at(nt.name).view().to_contiguous();
            const dl::versioned_ptr m = ptio::to_dlpack(ck, *nt.tensor);
            REQUIRE(m != nullptr);
            CHECK(m->version.major == 1);
            CHECK(m->version.minor == 1);
            CHECK(m->flags == 0);  // a copy-on-write mapping may be written
            check_export(m->dl_tensor, *nt.tensor, expect);
        }
    }
}

TEST_CASE("dlpack: float8, uint16-64 and complex32 from torch 2.x") {
    auto ck = open_shared(fs::path(PTIO_TORCH2_DIR) / "dtypes_2x.pt", false);
    const auto independent = ptio::checkpoint::open(fs::path(PTIO_TORCH2_DIR) / "dtypes_2x.pt");
    std::size_t n = 0;
    for (const ptio::named_tensor& nt : ck->tensors()) {
        INFO(nt.name);
        const dl::versioned_ptr m = ptio::to_dlpack(ck, *nt.tensor);
        check_export(m->dl_tensor, *nt.tensor, independent.at(nt.name).view().to_contiguous());
        ++n;
    }
    CHECK(n >= 9);
    CHECK(ptio::to_dlpack(ck, ck->at("float8_e4m3fn"))->dl_tensor.dtype.code == dl::kDLFloat8_e4m3fn);
    CHECK(ptio::to_dlpack(ck, ck->at("complex32"))->dl_tensor.dtype.code == dl::kDLComplex);
}

TEST_CASE("dlpack: read-only flag follows the mapping") {
    auto ro = open_shared(fixture("views.pt"), false);
    CHECK(ptio::to_dlpack(ro, ro->at("base"))->flags == dl::flag_read_only);
    CHECK(ptio::to_dlpack(ro, ro->at("base"), true)->flags == dl::flag_read_only);
    try {
        (void)ptio::to_dlpack(ro, ro->at("base"), false);
        FAIL("a writable export of a read-only mapping");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::invalid_argument);
        CHECK(std::string(e.what()).find("copy_on_write") != std::string::npos);
    }
    auto cow = open_shared(fixture("views.pt"), true);
    CHECK(ptio::to_dlpack(cow, cow->at("base"), true)->flags == dl::flag_read_only);
    CHECK(ptio::to_dlpack(cow, cow->at("base"))->flags == 0);
}

TEST_CASE("dlpack: the deleter drops the owner; the owner outlives the caller's reference") {
    auto ck = open_shared(fixture("views.pt"), false);
    const std::vector<std::byte> expect = ck->at("strided").view().to_contiguous();
    CHECK(ck.use_count() == 1);
    dl::versioned_ptr m = ptio::to_dlpack(ck, ck->at("strided"));
    dl::legacy_ptr old = ptio::to_dlpack_legacy(ck, ck->at("strided"));
    CHECK(ck.use_count() == 3);
    const std::weak_ptr<const ptio::checkpoint> watch = ck;
    ck.reset();  // the exports alone keep the checkpoint and its mapping
    REQUIRE_FALSE(watch.expired());
    CHECK(gather(m->dl_tensor) == expect);
    CHECK(gather(old->dl_tensor) == expect);
    // A consumer takes the raw pointer and calls the deleter itself.
    dl::DLManagedTensorVersioned* raw = m.release();
    raw->deleter(raw);
    CHECK_FALSE(watch.expired());
    old.reset();
    CHECK(watch.expired());
}

TEST_CASE("dlpack: the legacy form") {
    auto ck = open_shared(fixture("views.pt"), false);
    const auto independent = ptio::checkpoint::open(fixture("views.pt"));
    for (const char* name : {"column", "transpose", "expand", "flat_tail"}) {
        INFO(name);
        const dl::legacy_ptr m = ptio::to_dlpack_legacy(ck, ck->at(name));
        REQUIRE(m != nullptr);
        const bool has_deleter = m->deleter != nullptr;
        CHECK(has_deleter);
        check_export(m->dl_tensor, ck->at(name), independent.at(name).view().to_contiguous());
    }
    CHECK(ck.use_count() == 1);
}

TEST_CASE("dlpack: dtypes DLPack lacks and lazy views are refused, holding nothing") {
    auto q = open_shared(fixture("quantized.pt"), false);
    for (const char* name : {"qint8", "quint8", "qint32"}) {
        INFO(name);
        try {
            (void)ptio::to_dlpack(q, q->at(name));
            FAIL("exported a quantized tensor");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::invalid_argument);
            CHECK(std::string(e.what()).find(name) != std::string::npos);
        }
        CHECK_THROWS_AS((void)ptio::to_dlpack_legacy(q, q->at(name)), ptio::error);
    }
    CHECK(q.use_count() == 1);

    auto conj = open_shared(fs::path(PTIO_TORCH2_DIR) / "conj.pt", false);
    CHECK(ptio::to_dlpack(conj, conj->at("z")) != nullptr);
    REQUIRE(conj->at("z_conj").is_conj());
    try {
        (void)ptio::to_dlpack(conj, conj->at("z_conj"));
        FAIL("exported a conjugated view");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::invalid_argument);
        CHECK(std::string(e.what()).find("conjugated") != std::string::npos);
        CHECK(e.file().find("conj.pt") != std::string::npos);
    }
}

TEST_CASE("dlpack: the raw builder") {
    auto bytes = std::make_shared<std::vector<float>>(std::vector<float>{0, 1, 2, 3, 4, 5});
    const std::int64_t shape[] = {2, 2};
    const std::int64_t strides[] = {1, 3};  // a transposed view of the last four
    ptio::dlpack_view v{bytes, bytes->data(), ptio::device::cpu(), ptio::dtype::float32,
                        shape, strides, 4, false};
    {
        const dl::versioned_ptr m = ptio::to_dlpack(v);
        CHECK(bytes.use_count() == 3);  // v.owner, the export, `bytes`
        CHECK(m->flags == 0);
        std::vector<float> got(4);
        const std::vector<std::byte> raw = gather(m->dl_tensor);
        std::memcpy(got.data(), raw.data(), raw.size());
        CHECK(got == std::vector<float>{1, 4, 2, 5});
        // What Python's protocol hands over: the same elements, the offset inside data.
        dl::fold_byte_offset(m->dl_tensor);
        CHECK(m->dl_tensor.byte_offset == 0);
        CHECK(m->dl_tensor.data == bytes->data() + 1);
        CHECK(gather(m->dl_tensor) == raw);
    }
    CHECK(bytes.use_count() == 2);

    auto refused = [&](ptio::dlpack_view bad, std::string_view why) {
        INFO(std::string(why));
        try {
            (void)ptio::to_dlpack(bad);
            FAIL("accepted");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::invalid_argument);
            CHECK(std::string(e.what()).find(why) != std::string::npos);
        }
    };
    ptio::dlpack_view bad = v;
    bad.strides = std::span(strides, 1);
    refused(bad, "2 sizes but 1 strides");
    bad = v;
    bad.device = ptio::device::meta();
    refused(bad, "meta");
    bad = v;
    bad.dtype = ptio::dtype::quint4x2;
    refused(bad, "quint4x2");
    bad = v;
    bad.data = nullptr;
    refused(bad, "no data");
    const std::int64_t negative[] = {2, -1};
    bad = v;
    bad.shape = negative;
    refused(bad, "negative size");
    CHECK(bytes.use_count() == 3);  // v, bad and bytes: the refused exports hold nothing
    // No elements: no data is fine.
    const std::int64_t none[] = {0, 2};
    bad = v;
    bad.shape = none;
    bad.data = nullptr;
    CHECK(ptio::to_dlpack(bad)->dl_tensor.data == nullptr);
}

TEST_CASE("dlpack: placed tensors of a CPU load") {
    const auto independent = ptio::checkpoint::open(fixture("views.pt"));
    ptio::load_options copy;
    copy.cpu = ptio::cpu_placement::copy;
    auto lo = std::make_shared<const ptio::loaded>(ptio::load(fixture("views.pt"), {"cpu"}, copy));
    for (const ptio::named_device_tensor& nt : lo->tensors()) {
        INFO(nt.name);
        const dl::versioned_ptr m = ptio::to_dlpack(lo, *nt.tensor);
        const dl::DLTensor& d = m->dl_tensor;
        CHECK(d.data == nt.tensor->storage_data());
        CHECK(d.byte_offset == nt.tensor->source().view().data_offset());
        CHECK(d.device.device_type == dl::kDLCPU);
        CHECK(m->flags == 0);  // an owned copy
        CHECK(dims(d.strides, d.ndim) == dims(nt.tensor->strides()));
        CHECK(gather(d) == independent.at(nt.name).view().to_contiguous());
    }
    const std::weak_ptr<const ptio::loaded> watch = lo;
    dl::legacy_ptr old = ptio::to_dlpack_legacy(lo, lo->at("strided"));
    lo.reset();
    REQUIRE_FALSE(watch.expired());
    CHECK(gather(old->dl_tensor) == independent.at("strided").view().to_contiguous());
    old.reset();
    CHECK(watch.expired());

    auto view = std::make_shared<const ptio::loaded>(ptio::load(fixture("views.pt"), {"cpu"}));
    CHECK(ptio::to_dlpack(view, view->at("base"))->flags == dl::flag_read_only);
    ptio::load_options cow;
    cow.cpu = ptio::cpu_placement::copy_on_write;
    auto private_view = std::make_shared<const ptio::loaded>(ptio::load(fixture("views.pt"), {"cpu"}, cow));
    CHECK(private_view->at("base").writable());
    CHECK(ptio::to_dlpack(private_view, private_view->at("base"))->flags == 0);
    CHECK_FALSE(view->at("base").writable());

    // A tensor of another load is refused; so is a meta placement.
    auto meta = std::make_shared<const ptio::loaded>(ptio::load(fixture("views.pt"), {"meta"}));
    try {
        (void)ptio::to_dlpack(view, meta->at("base"));
        FAIL("exported another load's tensor");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::not_found);
    }
    try {
        (void)ptio::to_dlpack(meta, meta->at("base"));
        FAIL("exported a meta tensor");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::invalid_argument);
    }
}
