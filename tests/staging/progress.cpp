// Progress and cancelling on big.pt (a few MB cut into 4 KiB chunks): progress calls come in
// order and end at the total, a callback may cancel or fail the load, loaded::cancel() stops a
// streaming load half-way, and a streaming load's tensors may be waited on from many threads.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <ptio/ptio.hpp>

#include "support/staging_support.hpp"

namespace {

using namespace ptio_test;
namespace fs = std::filesystem;

// Load big.pt with CPU copies in 4 KiB chunks on `threads` copying threads, recording every
// progress call, and check the bytes.
std::vector<std::pair<std::uint64_t, std::uint64_t>> progress_calls(unsigned threads,
                                                                    std::uint64_t& expected_total) {
    const fs::path file = fixture("big.pt");
    const ptio::checkpoint ref = ptio::checkpoint::open(file);
    const storage_table table = table_of(ref);
    REQUIRE(table.total > (std::uint64_t{4} << 20));  // a few MB: over a thousand chunks
    expected_total = table.total;
    ptio::stager small(ptio::stager_options{.chunk_bytes = 4096, .chunks = 2});
    std::mutex m;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
    ptio::load_options o;
    o.cpu = ptio::cpu_placement::copy;
    o.staging = &small;
    o.threads = threads;
    o.progress = [&](std::uint64_t done, std::uint64_t total) {
        std::lock_guard lock(m);
        calls.emplace_back(done, total);
        return true;
    };
    const ptio::loaded l = ptio::load(file, "cpu", o);
    CHECK(l.ready());
    CHECK(l.bytes_to_move() == table.total);
    for (const ptio::named_tensor& nt : ref.tensors())
        CHECK(same_bytes(host_copy(l.at(nt.name)), nt.tensor->view().storage_bytes()));
    CHECK(calls.size() >= table.total / 4096);  // at least one call per chunk
    return calls;
}

void check_progress(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& calls,
                    std::uint64_t expected_total) {
    REQUIRE(!calls.empty());
    std::uint64_t last = 0;
    std::size_t backwards = 0, over = 0, other_total = 0;
    for (const auto& [done, total] : calls) {
        backwards += done < last ? 1 : 0;
        over += done > total ? 1 : 0;
        other_total += total != expected_total ? 1 : 0;
        last = done;
    }
    CHECK(backwards == 0);
    CHECK(over == 0);
    CHECK(other_total == 0);
    CHECK(calls.back().first == expected_total);
}

}  // namespace

TEST_CASE("staging: progress reports monotonic bytes up to the total") {
    std::uint64_t total = 0;
    const auto calls = progress_calls(1, total);
    check_progress(calls, total);

    // Views move nothing: no progress at all.
    bool called = false;
    ptio::load_options o;
    o.progress = [&](std::uint64_t, std::uint64_t) { return called = true; };
    const ptio::loaded views = ptio::load(fixture("big.pt"), "cpu", o);
    CHECK(views.bytes_to_move() == 0);
    CHECK_FALSE(called);
}

// With several copying threads, progress must still arrive in order and end at the total
// (this once failed: the count and the call were under different locks).
TEST_CASE("staging: progress stays monotonic with several copying threads") {
    for (unsigned threads : {2U, 4U, 8U}) {
        INFO("threads ", threads);
        std::uint64_t total = 0;
        const auto calls = progress_calls(threads, total);
        check_progress(calls, total);
    }
}

TEST_CASE("staging: progress returning false cancels the load") {
    const fs::path file = fixture("big.pt");
    ptio::stager small(ptio::stager_options{.chunk_bytes = 4096, .chunks = 2});
    for (unsigned threads : {1U, 4U}) {
        INFO("threads ", threads);
        std::atomic<int> calls_after_stop{0};
        std::atomic<bool> stopped{false};
        ptio::load_options o;
        o.cpu = ptio::cpu_placement::copy;
        o.staging = &small;
        o.threads = threads;
        o.progress = [&](std::uint64_t done, std::uint64_t total) {
            if (stopped) ++calls_after_stop;
            if (done * 2 >= total) stopped = true;
            return !stopped;
        };
        CHECK(code_of([&] { (void)ptio::load(file, "cpu", o); }) == ptio::errc::cancelled);
        CHECK(stopped);
        // Pieces already in flight may still land, but the callback hears no more of them.
        CHECK(calls_after_stop == 0);
    }
    // A False on the very last piece, when every byte has landed, still cancels: the caller
    // asked to stop, and a load that returns would say otherwise.
    {
        ptio::load_options o;
        o.cpu = ptio::cpu_placement::copy;
        o.staging = &small;
        o.progress = [](std::uint64_t done, std::uint64_t total) { return done < total; };
        CHECK(code_of([&] { (void)ptio::load(file, "cpu", o); }) == ptio::errc::cancelled);
    }
    // An exception from the callback fails the load with that exception.
    ptio::load_options o;
    o.cpu = ptio::cpu_placement::copy;
    o.staging = &small;
    o.progress = [](std::uint64_t, std::uint64_t) -> bool {
        throw ptio::error(ptio::errc::invalid_argument, "from the callback");
    };
    const std::string what = message_of([&] { (void)ptio::load(file, "cpu", o); });
    CHECK(what.find("from the callback") != std::string::npos);
}

TEST_CASE("staging: cancel() of a load started with wait=false") {
    const fs::path file = fixture("big.pt");
    const ptio::checkpoint ref = ptio::checkpoint::open(file);
    ptio::stager small(ptio::stager_options{.chunk_bytes = 4096, .chunks = 2});

    // The first progress call holds its loading thread until the test has cancelled, so the
    // cancel lands half-way whatever the timing.
    progress_gate gate;
    ptio::load_options o;
    o.cpu = ptio::cpu_placement::copy;
    o.staging = &small;
    o.wait = false;
    o.progress = gate.callback();
    std::optional<ptio::loaded> l(ptio::load(file, "cpu", o));
    gate.cancel_and_release(*l);

    CHECK(code_of([&] { l->wait(); }) == ptio::errc::cancelled);
    CHECK_FALSE(l->ready());
    std::size_t ready = 0, unready = 0;
    for (const ptio::named_tensor& nt : ref.tensors()) {
        INFO("tensor '", nt.name, "'");
        const ptio::device_tensor& t = l->at(nt.name);
        if (t.ready()) {
            ++ready;
            t.wait();
            CHECK(same_bytes(host_copy(t), nt.tensor->view().storage_bytes()));
        } else {
            ++unready;
            CHECK(code_of([&] { t.wait(); }) == ptio::errc::cancelled);
            std::vector<std::byte> out(t.storage_nbytes());
            CHECK(code_of([&] { t.copy_storage_to_host(out); }) == ptio::errc::cancelled);
        }
    }
    CHECK(unready > 0);  // 4.7 MB in 4 KiB chunks: the cancel came long before the end
    l.reset();           // frees everything; ASan checks
    (void)ready;

    // Cancelled at once, or destroyed while streaming: either way clean.
    for (int round = 0; round < 20; ++round) {
        ptio::load_options quick;
        quick.cpu = ptio::cpu_placement::copy;
        quick.staging = &small;
        quick.wait = false;
        ptio::loaded streaming = ptio::load(file, "cpu", quick);
        if (round % 2 == 0) {
            streaming.cancel();
            try {
                streaming.wait();  // it may have finished before the cancel
                CHECK(streaming.ready());
            } catch (const ptio::error& e) {
                CHECK(e.code() == ptio::errc::cancelled);
            }
        }
    }
}

TEST_CASE("staging: tensors of a streaming load may be waited on from many threads") {
    const fs::path file = fixture("big.pt");
    const ptio::checkpoint ref = ptio::checkpoint::open(file);
    ptio::stager small(ptio::stager_options{.chunk_bytes = 65536, .chunks = 2});
    ptio::load_options o;
    o.cpu = ptio::cpu_placement::copy;
    o.staging = &small;
    o.wait = false;
    const ptio::loaded l = ptio::load(file, "cpu", o);
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (const ptio::named_tensor& nt : ref.tensors())
        threads.emplace_back([&, name = nt.name, view = &nt.tensor->view()] {
            const ptio::device_tensor& t = l.at(name);
            t.wait();
            if (t.ready() && same_bytes(host_copy(t), view->storage_bytes())) ++good;
        });
    for (auto& t : threads) t.join();
    CHECK(good == static_cast<int>(ref.tensors().size()));
    l.wait();
    CHECK(l.ready());
}
