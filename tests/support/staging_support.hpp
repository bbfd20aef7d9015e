// staging_support — helpers shared by the CPU staging tests (tests/staging/) and the GPU
// ones (tests/staging/cuda/): the fixture files, bytes of files and of placed tensors, what a
// checkpoint's tensor table says about its storages, and a hand-made file with a broken
// storage record. Test code only; needs PTIO_FIXTURE_DIR.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <ptio/ptio.hpp>

#include "zip_builder.hpp"

namespace ptio_test {

/// The fixtures folder: PTIO_FIXTURE_DIR from the environment (for running a carried test
/// binary on another machine), else the build's.
inline std::filesystem::path fixture_dir() {
    const char* env = std::getenv("PTIO_FIXTURE_DIR");
    return env && *env ? std::filesystem::path(env) : std::filesystem::path(PTIO_FIXTURE_DIR);
}

inline std::filesystem::path fixture(std::string_view name) { return fixture_dir() / name; }

/// Every checkpoint torch wrote for this run, in name order: the zip fixtures
/// (tests/fixtures/make_fixtures.py), their legacy-format twins (legacy/), the tars
/// (make_tar.py, tar/) and the numpy cases (make_numpy.py, numpy/) where present.
inline std::vector<std::filesystem::path> fixture_files() {
    std::vector<std::filesystem::path> out;
    auto add = [&](const std::filesystem::path& dir, std::string_view ext) {
        if (!std::filesystem::is_directory(dir)) return;
        for (const auto& entry : std::filesystem::directory_iterator(dir))
            if (entry.path().extension() == ext) out.push_back(entry.path());
    };
    add(fixture_dir(), ".pt");
    add(fixture_dir() / "legacy", ".pt");
    add(fixture_dir() / "tar", ".tar");
    add(fixture_dir() / "numpy", ".pt");
    std::sort(out.begin(), out.end());
    REQUIRE_MESSAGE(out.size() >= 17, "run the fixtures.torch test first");
    return out;
}

inline std::vector<std::byte> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::vector<char> chars{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::vector<std::byte> out(chars.size());
    if (!chars.empty()) std::memcpy(out.data(), chars.data(), chars.size());
    return out;
}

inline void write_file(const std::filesystem::path& path, std::span<const std::byte> bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    REQUIRE(out.good());
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

/// A placed tensor's storage bytes, copied back to the host (from the GPU for CUDA tensors).
inline std::vector<std::byte> host_copy(const ptio::device_tensor& t) {
    std::vector<std::byte> out(t.storage_nbytes());
    t.copy_storage_to_host(out);
    return out;
}

inline bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

template <class A, class B>
bool same_dims(A a, B b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

inline std::string_view placement_name(ptio::cpu_placement p) {
    switch (p) {
        case ptio::cpu_placement::view: return "view";
        case ptio::cpu_placement::copy_on_write: return "copy_on_write";
        case ptio::cpu_placement::copy: return "copy";
    }
    return "?";
}

/// A progress callback whose first call holds its loading thread until cancel_and_release():
/// a cancel then lands half-way through a load whatever the timing.
class progress_gate {
public:
    [[nodiscard]] std::function<bool(std::uint64_t, std::uint64_t)> callback() {
        return [this](std::uint64_t, std::uint64_t) {
            std::unique_lock lock(m_);
            first_seen_ = true;
            cv_.notify_all();
            cv_.wait(lock, [&] { return released_; });
            return true;
        };
    }
    /// Wait for the first progress call, cancel `l` while it is held, then let it go.
    template <class Loaded>
    void cancel_and_release(Loaded& l) {
        {
            std::unique_lock lock(m_);
            cv_.wait(lock, [&] { return first_seen_; });
        }
        l.cancel();
        {
            std::lock_guard lock(m_);
            released_ = true;
        }
        cv_.notify_all();
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool first_seen_ = false, released_ = false;
};

/// The code of the ptio::error `f` throws (a test failure when it throws none).
ptio::errc code_of(auto&& f) {
    try {
        f();
    } catch (const ptio::error& e) {
        INFO("message: ", e.what());
        return e.code();
    }
    FAIL("no ptio::error");
    return ptio::errc::not_found;
}

/// The message of the ptio::error `f` throws.
std::string message_of(auto&& f) {
    try {
        f();
    } catch (const ptio::error& e) {
        return e.what();
    }
    FAIL("no ptio::error");
    return {};
}

/// What a checkpoint's tensor table says about its storages.
struct storage_table {
    std::map<std::string, std::uint64_t> nbytes;  ///< by storage key
    std::size_t distinct_tensors = 0;             ///< tensor objects (one under two names: 1)
    std::uint64_t total = 0;                      ///< bytes of all storages
    std::size_t nonempty = 0;                     ///< storages of at least one byte
    /// Storages whose bytes lie inside another's (the views the legacy and tar formats save,
    /// which torch builds over their root's memory): placed as views, they overlap it.
    std::set<std::string> views;
};

inline storage_table table_of(const ptio::checkpoint& ck) {
    storage_table t;
    std::set<const ptio::tensor*> tensors;
    for (const ptio::named_tensor& nt : ck.tensors()) {
        tensors.insert(nt.tensor);
        const ptio::tensor_view& v = nt.tensor->view();
        if (v.has_data()) t.nbytes.emplace(std::string(v.storage_key()), v.storage_bytes().size());
    }
    t.distinct_tensors = tensors.size();
    std::map<std::string, std::span<const std::byte>> spans;
    for (const ptio::named_tensor& nt : ck.tensors())
        if (nt.tensor->view().has_data()) spans.emplace(std::string(nt.tensor->view().storage_key()), nt.tensor->view().storage_bytes());
    for (const auto& [key, b] : spans)
        for (const auto& [other, o] : spans)
            if (other != key && !b.empty() && o.size() > b.size() && b.data() >= o.data() &&
                b.data() + b.size() <= o.data() + o.size())
                t.views.insert(key);
    for (const auto& [key, n] : t.nbytes) {
        t.total += n;
        t.nonempty += n > 0 ? 1 : 0;
    }
    return t;
}

/// A checkpoint of {"a": float32 [a_numel] over data/0, "b": float32 [1024] over data/1}
/// whose data/1 record has a corrupt local header (signature PK\3\4 changed to PK\3\5). Open
/// succeeds, since records are located lazily; reading b's bytes fails with bad_zip.
inline std::vector<std::byte> corrupt_local_header_checkpoint(std::uint32_t a_numel = 4) {
    std::string pickle = tensor_dict_pickle("a", a_numel, 0, {a_numel}, {1});
    // Both pickles are "\x80\x02}q\x00(" KEY VALUE "u.": put b's KEY VALUE before a's "u.".
    const std::string second = tensor_dict_pickle("b", 1024, 0, {1024}, {1});
    pickle.insert(pickle.size() - 2, second.substr(6, second.size() - 6 - 2));
    // b's storage key is "0" in the template (BINUNICODE "0" after the "cpu" tag): make it "1".
    const std::string key0("X\x01\0\0\0" "0", 6);
    const auto first = pickle.find(key0);
    const auto second_key = pickle.find(key0, first + 1);
    REQUIRE(second_key != std::string::npos);
    pickle[second_key + 5] = '1';
    zip_builder z;
    z.add("archive/data.pkl", pickle);
    z.add("archive/data/0", std::string(std::size_t{4} * a_numel, '\x11'));
    z.add("archive/data/1", std::string(4096, '\x22'));
    z.add("archive/version", "3\n");
    std::vector<std::byte> bytes = z.finish();
    // data/1's local header: its name follows the 30 fixed bytes.
    const std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const auto at = all.find("archive/data/1");
    REQUIRE(at != std::string_view::npos);
    REQUIRE(at >= 30);
    REQUIRE(bytes[at - 30] == std::byte{'P'});
    bytes[at - 30 + 3] = std::byte{0x05};
    return bytes;
}

/// A placed tensor keeps the source view's geometry, and its storage's bytes equal the view's.
inline void check_same_tensor(const ptio::device_tensor& t, const ptio::tensor_view& v) {
    CHECK(t.dtype() == v.dtype());
    CHECK(same_dims(t.shape(), v.shape()));
    CHECK(same_dims(t.strides(), v.strides()));
    CHECK(t.storage_offset() == v.storage_offset());
    CHECK(t.nbytes() == v.nbytes());
    CHECK(t.storage_nbytes() == v.storage_bytes().size());
    CHECK(same_bytes(host_copy(t), v.storage_bytes()));
}

/// One placement per storage key in `table`, and no two non-empty storages overlap.
inline void check_storages_disjoint(const std::map<std::string, const std::byte*>& storage_at,
                                    const storage_table& table) {
    CHECK(storage_at.size() == table.nbytes.size());
    std::vector<std::pair<const std::byte*, std::uint64_t>> extents;
    for (const auto& [key, p] : storage_at)
        if (table.nbytes.at(key) > 0 && !table.views.contains(key)) extents.emplace_back(p, table.nbytes.at(key));
    std::sort(extents.begin(), extents.end());
    for (std::size_t i = 1; i < extents.size(); ++i)
        CHECK(extents[i - 1].first + extents[i - 1].second <= extents[i].first);
}

}  // namespace ptio_test
