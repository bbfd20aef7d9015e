// Many threads on one checkpoint, and many loads at once: the thread-safety promises of
// checkpoint.hpp ("const methods may be called from many threads at once") and load.hpp, put
// where ThreadSanitizer can see them. Built as ptio_thread_tests, labelled `threads`, which
// the tsan preset runs (CMakePresets.json); in other builds it checks the bytes only. Each
// test writes its own file, so the two may run in parallel under ctest -j.
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <ptio/ptio.hpp>
#include <unistd.h>

namespace {

constexpr int tensors = 48;
inline std::atomic<int> files{0};

// A checkpoint with contiguous tensors, strided views of one shared storage and a nested
// dict, written into the temporary folder for one test and removed after it.
struct test_file {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("ptio-threads-" + std::to_string(::getpid()) + "-" + std::to_string(++files) + ".pt");
    test_file() {
        std::vector<float> data(tensors * 256);
        for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i % 1000) * 0.5f;
        auto storage = ptio::storage_ref::borrow(std::as_bytes(std::span(data)));
        auto sd = ptio::tree::ordered_dict();
        for (int i = 0; i < tensors; ++i) {
            const std::int64_t at = std::int64_t{i} * 256;
            if (i % 3 == 0)  // a transposed 16 × 16 view
                sd.set("layer" + std::to_string(i) + ".t", ptio::tree::tensor(storage, ptio::dtype::float32, {16, 16}, {1, 16}, at));
            else
                sd.set("layer" + std::to_string(i) + ".w", ptio::tree::tensor(storage, ptio::dtype::float32, {256}, {1}, at));
        }
        auto root = ptio::tree::dict();
        root.set("model", sd);
        root.set("step", 12);
        ptio::save(root, path);
    }
    ~test_file() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
    test_file(const test_file&) = delete;
    test_file& operator=(const test_file&) = delete;
};

std::vector<std::byte> bytes_of(const ptio::tensor_view& v) {
    std::vector<std::byte> out(static_cast<std::size_t>(v.nbytes()));
    v.copy_to(out);
    return out;
}

}  // namespace

TEST_CASE("threads: 16 threads read one checkpoint at once") {
    const test_file file;
    const auto ck = ptio::checkpoint::open(file.path);
    // What one thread sees alone is what every thread must see together.
    std::vector<std::vector<std::byte>> expected;
    {
        const auto solo = ptio::checkpoint::open(file.path);
        for (const auto& t : solo.tensors()) expected.push_back(bytes_of(t.tensor->view()));
    }
    REQUIRE(expected.size() == tensors);
    std::atomic<int> wrong{0}, failed{0};
    std::vector<std::thread> pool;
    for (int id = 0; id < 16; ++id)
        pool.emplace_back([&, id] {
            try {
                for (int round = 0; round < 4; ++round) {
                    switch ((id + round) % 4) {
                        case 0: {  // tensors and copy_to
                            const auto list = ck.tensors();
                            for (std::size_t i = 0; i < list.size(); ++i)
                                if (bytes_of(list[i].tensor->view()) != expected[i]) ++wrong;
                            break;
                        }
                        case 1: {  // to_contiguous and the chunked walk
                            std::size_t i = 0;
                            for (const auto& t : ck.tensors()) {
                                std::vector<std::byte> got;
                                t.tensor->view().for_each_chunk(100, [&](std::span<const std::byte> p) {
                                    got.insert(got.end(), p.begin(), p.end());
                                });
                                if (got != expected[i] || t.tensor->view().to_contiguous() != expected[i]) ++wrong;
                                ++i;
                            }
                            break;
                        }
                        case 2:
                            if (ck.state_dict().size() != tensors) ++wrong;
                            if (ck.find("model.layer1.w") == nullptr) ++wrong;
                            break;
                        default:
                            if (ck.verify(nullptr) != 0) ++wrong;
                            break;
                    }
                }
            } catch (const ptio::error&) {
                ++failed;
            }
        });
    for (auto& t : pool) t.join();
    CHECK(wrong.load() == 0);
    CHECK(failed.load() == 0);
}

TEST_CASE("threads: 8 concurrent loads onto the CPU") {
    const test_file file;
    std::vector<std::vector<std::byte>> expected;
    {
        const auto solo = ptio::checkpoint::open(file.path);
        for (const auto& t : solo.tensors()) expected.push_back(bytes_of(t.tensor->view()));
    }
    std::atomic<int> wrong{0}, failed{0};
    std::vector<std::thread> pool;
    for (int id = 0; id < 8; ++id)
        pool.emplace_back([&, id] {
            try {
                ptio::load_options o;
                o.cpu = id % 2 == 0 ? ptio::cpu_placement::copy : ptio::cpu_placement::view;
                o.threads = 2;
                const ptio::loaded l = ptio::load(file.path, "cpu", o);
                const auto list = l.tensors();
                if (list.size() != expected.size()) ++wrong;
                for (std::size_t i = 0; i < list.size() && i < expected.size(); ++i)
                    if (bytes_of(list[i].tensor->source().view()) != expected[i]) ++wrong;
                for (const auto& t : list) {
                    const auto* d = t.tensor->data();
                    if (d == nullptr && t.tensor->nbytes() != 0) ++wrong;
                }
            } catch (const ptio::error&) {
                ++failed;
            }
        });
    for (auto& t : pool) t.join();
    CHECK(wrong.load() == 0);
    CHECK(failed.load() == 0);
}
