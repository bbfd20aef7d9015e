// The formats before the zip archive: storages located in place in the mapping.
//
// tests/malformed/make_malformed.py writes valid_legacy.pt (torch.save with
// _use_new_zipfile_serialization=False of OrderedDict(w=arange(6) float32 2x3, b=ones(3)
// int64)) and valid_tar.tar (tests/fixtures/make_tar.py's state case, which torch.load
// reads). Their bytes against torch are checked by the oracles (oracle.legacy, oracle.tar);
// these cases check the zero-copy contract: a storage whose bytes in the file are aligned
// for its element type is a span of the mapping, any other is an owned copy, flagged.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>

#include <fstream>
#include <iterator>


#include "io/mapped_file.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/tensor.hpp"
#include "torch/storage.hpp"
#include "support/residency.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path malformed_dir{PTIO_MALFORMED_DIR};
const fs::path fixture_dir{PTIO_FIXTURE_DIR};

bool aligned(const std::byte* p, ptio::dtype t) {
    std::size_t a = ptio::element_size(t);
    if (ptio::is_complex(t)) a /= 2;
    return reinterpret_cast<std::uintptr_t>(p) % std::max<std::size_t>(a, 1) == 0;
}

// Every tensor: a copy exactly when the file's bytes are misaligned; a non-copy lies in the
// mapping. Returns how many were copies.
int check_in_place(const ptio::checkpoint& ck) {
    int copies = 0;
    for (const auto& nt : ck.tensors()) {
        const auto& v = nt.tensor->view();
        CAPTURE(nt.name);
        const auto* st = ptio::detail::storage_of(v);
        REQUIRE(st != nullptr);
        REQUIRE(st->file() != nullptr);  // the checkpoint's mapping
        const auto file = st->file()->bytes();
        const auto bytes = v.storage_bytes();
        const bool in_file = bytes.data() >= file.data() && bytes.data() + bytes.size() <= file.data() + file.size();
        CHECK(v.is_copy() == !in_file);
        if (v.is_copy()) {
            ++copies;
            CHECK(aligned(bytes.data(), v.dtype()));
        } else {
            CHECK(aligned(bytes.data(), v.dtype()));
        }
    }
    return copies;
}

}  // namespace

TEST_CASE("legacy: storages are spans of the mapping where aligned, flagged copies otherwise") {
    const auto path = malformed_dir / "valid_legacy.pt";
    if (!fs::exists(path)) {
        MESSAGE("skipped: run ctest (fixtures.malformed writes " << path << ")");
        return;
    }
    auto ck = ptio::checkpoint::open(path);
    CHECK(ck.format() == "legacy");
    CHECK(ck.records().empty());
    REQUIRE(ck.tensors().size() == 2);
    (void)check_in_place(ck);
    CHECK(ck.at("w").view().at<float>({1, 2}) == 5.0f);
    CHECK(ck.at("b").view().at<std::int64_t>({2}) == 1);
    // Copy-on-write opens see the same bytes.
    ptio::open_options cow;
    cow.copy_on_write = true;
    auto ck2 = ptio::checkpoint::open(path, cow);
    CHECK(ck2.at("w").view().at<float>({0, 1}) == 1.0f);
}

TEST_CASE("legacy: a blob at an odd offset is copied, and the copy holds the file's bytes") {
    const auto path = malformed_dir / "valid_legacy.pt";
    if (!fs::exists(path)) return;
    // Shift the whole file by one byte inside a buffer: every multi-byte blob is misaligned.
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> file{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::vector<std::byte> shifted(file.size() + 1);
    std::memcpy(shifted.data() + 1, file.data(), file.size());
    const std::span<const std::byte> odd(shifted.data() + 1, shifted.size() - 1);
    auto ck = ptio::checkpoint::open(odd, {}, "shifted legacy");
    int copies = 0;
    for (const auto& nt : ck.tensors()) copies += nt.tensor->view().is_copy() ? 1 : 0;
    CHECK(copies >= 1);
    CHECK(ck.at("w").view().at<float>({1, 2}) == 5.0f);
    CHECK(ck.at("b").view().at<std::int64_t>({0}) == 1);
}

TEST_CASE("legacy: views of a copied root share its one copy") {
    const auto path = malformed_dir / "valid_legacy_views.pt";
    if (!fs::exists(path)) return;
    // One float64 root at an odd offset, 64 views v<i> of its elements i..999.
    auto ck = ptio::checkpoint::open(path);
    REQUIRE(ck.tensors().size() == 64);
    CHECK(check_in_place(ck) == 64);
    const auto& first = ck.tensors()[0].tensor->view();
    for (std::size_t i = 0; i < 64; ++i) {
        CAPTURE(i);
        const auto& v = ck.tensors()[i].tensor->view();
        REQUIRE(v.shape()[0] == static_cast<std::int64_t>(1000 - i));
        CHECK(v.at<double>({0}) == static_cast<double>(i));
        CHECK(v.at<double>({v.shape()[0] - 1}) == 999.0);
        CHECK(v.storage_bytes().data() == first.storage_bytes().data() + i * sizeof(double));
    }
}

TEST_CASE("tar: tensors over storages in the storages member, views shared") {
    const auto path = malformed_dir / "valid_tar.tar";
    if (!fs::exists(path)) return;
    auto ck = ptio::checkpoint::open(path);
    CHECK(ck.format() == "tar");
    REQUIRE(ck.tensors().size() == 6);
    (void)check_in_place(ck);
    // weight and its transpose share one storage, so one set of bytes.
    CHECK(ck.at("weight").view().storage_bytes().data() == ck.at("weight_t").view().storage_bytes().data());
    CHECK(ck.at("weight_t").view().at<float>({3, 2}) == ck.at("weight").view().at<float>({2, 3}));
}

TEST_CASE("numpy: a large array's bytes are located in data.pkl in the file, not copied by the unpickler") {
    const auto path = fixture_dir / "numpy" / "numpy_p4.pt";  // tests/fixtures/make_numpy.py
    if (!fs::exists(path)) {
        MESSAGE("skipped: run ctest (fixtures.numpy writes " << path << ")");
        return;
    }
    auto ck = ptio::checkpoint::open(path);
    const auto& big = ck.at("big").view();
    CHECK(big.dtype() == ptio::dtype::float64);
    CHECK(ck.at("big").is_numpy());
    CHECK(ck.at("scalar_i8").is_numpy());
    CHECK_FALSE(ck.at("nested.tensor").is_numpy());  // a torch tensor beside them
    const auto* st = ptio::detail::storage_of(big);
    REQUIRE(st != nullptr);
    REQUIRE(st->file() != nullptr);
    const auto file = st->file()->bytes();
    const auto located = st->located_span();
    CHECK(located.data() >= file.data());
    CHECK(located.data() + located.size() <= file.data() + file.size());
    // A view where its address suits float64, a flagged copy otherwise.
    CHECK(big.is_copy() == !aligned(located.data(), ptio::dtype::float64));
    // Values: numpy's default_rng(0) normals are finite and not all equal.
    CHECK(big.at<double>({0, 0}) != big.at<double>({63, 63}));
    // The big-endian array reads as native values (its copy was byte-swapped).
    CHECK(ck.at("big_endian").view().is_copy());
    CHECK(ck.at("big_endian").view().at<std::int32_t>({2}) == 2 * 1000003);
}

TEST_CASE("legacy: open reads no page of the storage blobs (counts are checked on first access)") {
    // The legacy big fixture (make_fixtures.py's big case, ~4.7 MB) evicted from the page
    // cache: after open, no page past the first blob's may be resident; reading the tensors
    // brings them in.
    const auto path = fixture_dir / "legacy" / "big.pt";
    if (!fs::exists(path)) {
        MESSAGE("skipped: run ctest (fixtures.torch writes " << path << ")");
        return;
    }
    const ptio_test::page_probe probe(path);
    REQUIRE(probe.ok());
    const std::size_t page = probe.page(), size = probe.size();
    auto resident = [&](std::size_t from, std::size_t to) { return probe.resident(from, to); };
    if (!probe.evicted()) {
        MESSAGE("the page cache ignored POSIX_FADV_DONTNEED here; residency not testable");
    } else {
        auto ck = ptio::checkpoint::open(path);
        std::uint64_t first = size;
        for (const auto& nt : ck.tensors())
            if (const auto* st = ptio::detail::storage_of(nt.tensor->view())) first = std::min(first, st->offset());
        REQUIRE(first + 4 * page < size);
        const std::size_t from = (static_cast<std::size_t>(first) / page + 1) * page;
        CHECK(resident(from, size) == 0);
        volatile std::byte sink{};
        for (const auto& nt : ck.tensors()) {
            const auto& v = nt.tensor->view();
            if (v.nbytes() > 0) sink = v.storage_bytes()[0];
        }
        (void)sink;
        CHECK(resident(from, size) > 0);
    }
}

TEST_CASE("legacy: verify() checks the element counts open deferred") {
    const auto good = malformed_dir / "valid_legacy.pt";
    const auto bad = malformed_dir / "legacy_count_mismatch.pt";
    if (!fs::exists(bad)) return;
    CHECK(ptio::checkpoint::open(good).verify(nullptr) == 0);
    auto ck = ptio::checkpoint::open(bad);  // open does not read the count
    std::vector<ptio::error> problems;
    CHECK(ck.verify([&](const ptio::error& e) { problems.push_back(e); }) == 1);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].code() == ptio::errc::bad_storage);
    CHECK(std::string(problems[0].what()).find("7 elements") != std::string::npos);
}
