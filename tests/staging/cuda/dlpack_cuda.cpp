// DLPack exports of tensors loaded onto CUDA device 0 (ptio_gpu_tests; skipped without a
// device): kDLCUDA with the ordinal, the device address, the file's geometry, writable device
// memory, and the device memory kept until the last export is deleted.
#include <doctest/doctest.h>

#include <cstddef>
#include <memory>
#include <vector>

#include <ptio/ptio.hpp>

#include "support/staging_support.hpp"

TEST_CASE("gpu: DLPack exports of tensors on cuda:0") {
    const auto host = ptio::checkpoint::open(ptio_test::fixture("views.pt"));
    auto lo = std::make_shared<const ptio::loaded>(ptio::load(ptio_test::fixture("views.pt"), {"cuda:0"}));
    for (const ptio::named_device_tensor& nt : lo->tensors()) {
        INFO(nt.name);
        const ptio::dlpack::versioned_ptr m = ptio::to_dlpack(lo, *nt.tensor);
        const ptio::dlpack::DLTensor& d = m->dl_tensor;
        CHECK(d.device.device_type == ptio::dlpack::kDLCUDA);
        CHECK(d.device.device_id == 0);
        CHECK(m->flags == 0);  // device memory ptio owns: writable
        CHECK(d.data == nt.tensor->storage_data());
        CHECK(d.byte_offset == host.at(nt.name).view().data_offset());
        CHECK(std::vector<std::int64_t>(d.strides, d.strides + d.ndim) ==
              std::vector<std::int64_t>(nt.tensor->strides().begin(), nt.tensor->strides().end()));
    }
    // The export alone keeps the device memory: its bytes are still the file's.
    ptio::dlpack::legacy_ptr old = ptio::to_dlpack_legacy(lo, lo->at("base"));
    const ptio::device_tensor* base = &lo->at("base");
    const std::weak_ptr<const ptio::loaded> watch = lo;
    lo.reset();
    REQUIRE_FALSE(watch.expired());
    std::vector<std::byte> back(base->storage_nbytes());
    base->copy_storage_to_host(back);
    const auto want = host.at("base").view().storage_bytes();
    CHECK(std::vector<std::byte>(want.begin(), want.end()) == back);
    old.reset();
    CHECK(watch.expired());
}
