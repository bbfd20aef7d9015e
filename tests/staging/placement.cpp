// Staging onto the CPU and meta (ptio::load) with each cpu_placement, on any machine.
//
// Every fixture real torch wrote (PTIO_FIXTURE_DIR, tests/fixtures/make_fixtures.py) is loaded
// with each cpu_placement and each device_allocation and compared with an independent
// checkpoint::open of the same file: storage bytes, geometry, shared storages, where the bytes
// live (the mapping for views, owned memory for copies), writability, summary() and
// bytes_to_move(). Then writes through copy_on_write views and copies, meta destinations, and
// looking placed tensors up. The GPU half lives in tests/staging/cuda/.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ptio/ptio.hpp>

#include "io/mapped_file.hpp"
#include "support/staging_support.hpp"
#include "support/names.hpp"

namespace {

using namespace ptio_test;
namespace fs = std::filesystem;

// The address ranges where `file` is mapped into this process now (Linux: /proc/self/maps).
std::vector<std::pair<std::uintptr_t, std::uintptr_t>> mappings_of(const fs::path& file) {
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> out;
    const std::string want = fs::canonical(file).string();
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        const auto slash = line.find('/');
        if (slash == std::string::npos || line.compare(slash, std::string::npos, want) != 0)
            continue;
        const auto dash = line.find('-');
        out.emplace_back(std::stoull(line.substr(0, dash), nullptr, 16),
                         std::stoull(line.substr(dash + 1), nullptr, 16));
    }
    return out;
}

bool inside(const std::vector<std::pair<std::uintptr_t, std::uintptr_t>>& ranges, const void* p) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const auto& r) { return r.first <= a && a < r.second; });
}

// Load `file` onto the CPU with `placement` and check everything against an independent open.
void check_cpu_load(const fs::path& file, ptio::cpu_placement placement,
                    ptio::device_allocation allocation,
                    ptio::file_read read = ptio::load_options{}.read) {
    INFO("file ", file.filename().string(), ", placement ", std::string(placement_name(placement)),
         std::string(allocation == ptio::device_allocation::per_device ? ", per_device"
                                                                       : ", per_storage"),
         std::string(read == ptio::file_read::pread ? ", pread" : ", mmap"));
    const ptio::checkpoint ref = ptio::checkpoint::open(file);
    ptio::load_options o;
    o.cpu = placement;
    o.allocation = allocation;
    o.read = read;
    const ptio::loaded l = ptio::load(file, "cpu", o);
    CHECK(l.ready());
    l.wait();

    const auto named = l.tensors();
    const auto src = l.source().tensors();
    const auto want = ref.tensors();
    REQUIRE(named.size() == src.size());
    REQUIRE(named.size() == want.size());
    const auto mapped = mappings_of(file);  // l's own mapping (and ref's)
    // A small file opened read-only (the view placement) is read into the checkpoint's own
    // buffer rather than mapped (io/mapped_file.hpp); copy-on-write opens are always mapped.
    const bool read_small = fs::file_size(file) <= ptio::detail::mapped_file::read_limit;

    std::map<std::string, const std::byte*> storage_at;  // by key: where the load put it
    for (std::size_t i = 0; i < named.size(); ++i) {
        const ptio::named_device_tensor& nt = named[i];
        INFO("tensor #", i, " '", nt.name, "'");
        REQUIRE(nt.tensor != nullptr);
        const ptio::device_tensor& t = *nt.tensor;
        const ptio::tensor_view& v = want[i].tensor->view();
        const ptio::tensor_view& own = src[i].tensor->view();  // l's checkpoint
        CHECK(nt.name == want[i].name);
        CHECK(test_support::path_of(nt.path) == test_support::path_of(want[i].path));
        CHECK(&t.source() == src[i].tensor);
        CHECK(&l.placement(*src[i].tensor) == &t);
        CHECK(t.device() == ptio::device::cpu());
        CHECK(t.ready());
        t.wait();

        check_same_tensor(t, v);
        if (t.storage_data() != nullptr) {
            CHECK(t.data() == t.storage_data() + v.data_offset());
            // Through data(), the elements the view shows are the file's.
            if (v.nbytes() > 0 && v.is_contiguous())
                CHECK(std::memcmp(t.data(), v.data(), v.nbytes()) == 0);
        }

        const auto [at, fresh] = storage_at.try_emplace(std::string(v.storage_key()), t.storage_data());
        if (!fresh) CHECK(at->second == t.storage_data());  // one storage, one placement

        const bool empty = t.storage_nbytes() == 0;
        switch (placement) {
            case ptio::cpu_placement::view:
                CHECK(t.storage_data() == own.storage_bytes().data());
                if (!empty && !own.is_copy()) CHECK(inside(mapped, t.storage_data()) != read_small);
                CHECK(code_of([&] { (void)t.mutable_data(); }) == ptio::errc::invalid_argument);
                break;
            case ptio::cpu_placement::copy_on_write:
                CHECK(t.storage_data() == own.storage_bytes().data());
                if (!empty && !own.is_copy()) CHECK(inside(mapped, t.storage_data()));
                CHECK(t.mutable_data() == t.data());
                break;
            case ptio::cpu_placement::copy:
                if (!empty) {
                    CHECK(t.storage_data() != own.storage_bytes().data());
                    CHECK_FALSE(inside(mapped, t.storage_data()));
                    CHECK(reinterpret_cast<std::uintptr_t>(t.storage_data()) % 64 == 0);
                }
                // Only non-empty storages: an empty one placed per_storage has no address.
                if (!empty) CHECK(t.mutable_data() == t.data());
                break;
        }
    }

    const storage_table table = table_of(ref);
    check_storages_disjoint(storage_at, table);  // one placement each, no overlaps

    const bool copies = placement == ptio::cpu_placement::copy;
    CHECK(l.bytes_to_move() == (copies ? table.total : 0));
    const auto rows = l.summary();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].device == ptio::device::cpu());
    CHECK(rows[0].tensors == table.distinct_tensors);
    CHECK(rows[0].storages == table.nbytes.size());
    CHECK(rows[0].bytes == table.total);
    std::size_t allocations = 0;
    if (copies)
        allocations = allocation == ptio::device_allocation::per_storage ? table.nonempty
                                                                         : (table.total > 0 ? 1 : 0);
    CHECK(rows[0].allocations == allocations);
}

}  // namespace

TEST_CASE("staging: every fixture loads onto the CPU with each placement") {
    for (const fs::path& file : fixture_files())
        for (auto placement : {ptio::cpu_placement::view, ptio::cpu_placement::copy_on_write,
                               ptio::cpu_placement::copy})
            for (auto allocation :
                 {ptio::device_allocation::per_device, ptio::device_allocation::per_storage})
                for (auto read : {ptio::file_read::pread, ptio::file_read::mmap})
                    // The read mode matters only where bytes are copied.
                    if (placement == ptio::cpu_placement::copy || read == ptio::file_read::pread)
                        check_cpu_load(file, placement, allocation, read);
}

TEST_CASE("staging: deflated storages load as views of ptio's inflated copy") {
    // Every record deflated: no view can point into the mapping; the bytes are still right.
    const fs::path file = fs::path(PTIO_MALFORMED_DIR) / "valid_deflated_all.pt";
    for (auto placement : {ptio::cpu_placement::view, ptio::cpu_placement::copy})
        check_cpu_load(file, placement, ptio::device_allocation::per_device);
}

TEST_CASE("staging: copy_on_write and copy are writable; writes never reach the file") {
    const fs::path file = fixture("views.pt");
    const std::vector<std::byte> before = read_file(file);
    const float written = 1234.5F;
    {
        ptio::load_options o;
        o.cpu = ptio::cpu_placement::copy_on_write;
        const ptio::loaded l = ptio::load(file, "cpu", o);
        const ptio::device_tensor& base = l.at("base");
        std::memcpy(base.mutable_data() + 4, &written, sizeof written);  // base[0][1]
        // The load's own views see the write: they are views of the same private mapping.
        CHECK(l.source().at("base").view().at<float>({0, 1}) == written);
        CHECK(l.source().at("base_again").view().at<float>({0, 1}) == written);
        CHECK(l.source().at("transpose").view().at<float>({1, 0}) == written);
        float back = 0;
        std::memcpy(&back, l.at("transpose").data() + 4, sizeof back);  // transpose[1][0]
        CHECK(back == written);
        // A fresh open reads the file: unchanged.
        CHECK(ptio::checkpoint::open(file).at("base").view().at<float>({0, 1}) == 1.0F);
    }
    CHECK(same_bytes(read_file(file), before));

    {
        ptio::load_options o;
        o.cpu = ptio::cpu_placement::copy;
        const ptio::loaded l = ptio::load(file, "cpu", o);
        std::memcpy(l.at("row").mutable_data(), &written, sizeof written);  // row[0] = base[2][0]
        float back = 0;
        std::memcpy(&back, l.at("base").data() + 4 * 12, sizeof back);
        CHECK(back == written);  // row and base share the copied storage
        CHECK(l.source().at("base").view().at<float>({2, 0}) == 12.0F);  // the mapping: not
    }
    CHECK(same_bytes(read_file(file), before));

    // A read-only view refuses; copy_on_write needs a private mapping, which bytes are not.
    const ptio::loaded view = ptio::load(file, "cpu");
    CHECK(code_of([&] { (void)view.at("base").mutable_data(); }) == ptio::errc::invalid_argument);
    ptio::load_options cow;
    cow.cpu = ptio::cpu_placement::copy_on_write;
    CHECK(code_of([&] { (void)ptio::load(read_file(file), "cpu", cow); }) ==
          ptio::errc::invalid_argument);
}

TEST_CASE("staging: meta destinations have no data and are ready at once") {
    for (const fs::path& file : fixture_files()) {
        INFO("file ", file.filename().string());
        const ptio::checkpoint ref = ptio::checkpoint::open(file);
        const storage_table table = table_of(ref);
        ptio::load_options o;
        o.cpu = ptio::cpu_placement::copy;  // meta moves nothing whatever the CPU placement
        const ptio::loaded l = ptio::load(file, "meta", o);
        CHECK(l.ready());
        l.wait();
        CHECK(l.bytes_to_move() == 0);
        REQUIRE(l.tensors().size() == ref.tensors().size());
        for (const ptio::named_device_tensor& nt : l.tensors()) {
            INFO("tensor '", nt.name, "'");
            const ptio::device_tensor& t = *nt.tensor;
            CHECK(t.device() == ptio::device::meta());
            CHECK(t.storage_data() == nullptr);
            CHECK(t.data() == nullptr);
            CHECK(t.storage_nbytes() == 0);
            CHECK(t.ready());
            t.wait();
            CHECK(t.dtype() == t.source().dtype());
            CHECK(same_dims(t.shape(), t.source().shape()));
            CHECK(t.nbytes() == t.source().view().nbytes());
            CHECK(host_copy(t).empty());
            CHECK(code_of([&] { (void)t.mutable_data(); }) == ptio::errc::invalid_argument);
        }
        const auto rows = l.summary();
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].device == ptio::device::meta());
        CHECK(rows[0].tensors == table.distinct_tensors);
        CHECK(rows[0].storages == table.nbytes.size());
        CHECK(rows[0].bytes == 0);
        CHECK(rows[0].allocations == 0);
    }
}

TEST_CASE("staging: find, at and placement") {
    const ptio::loaded l = ptio::load(fixture("nested.pt"), "cpu");
    REQUIRE(l.find("tensors.list.1.deep") != nullptr);
    CHECK(test_support::path_of(l.find("tensors.list.1.deep")->path) ==
          std::vector<std::string>{"tensors", "list", "1", "deep"});
    CHECK(l.find("tensors.list") == nullptr);
    CHECK(l.find("missing") == nullptr);
    CHECK(&l.at("7") == l.find("7")->tensor);
    CHECK(code_of([&] { (void)l.at("missing"); }) == ptio::errc::not_found);
    const ptio::checkpoint other = ptio::checkpoint::open(fixture("nested.pt"));
    CHECK(code_of([&] { (void)l.placement(other.at("7")); }) == ptio::errc::not_found);
    CHECK(&l.placement(l.source().at("7")) == &l.at("7"));
    // A tensor reached under two names is placed once.
    const ptio::loaded views = ptio::load(fixture("views.pt"), "cpu");
    CHECK(&views.at("base") == &views.at("base_again"));
}
