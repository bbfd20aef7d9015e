// device: torch's spellings of a place for tensor data, and what this process reports about
// CUDA (without a GPU: no devices, and every query of one fails with cuda_unavailable).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include <ptio/device.hpp>
#include <ptio/error.hpp>

namespace {

ptio::errc parse_error(std::string_view text) {
    try {
        (void)ptio::device::parse(text);
    } catch (const ptio::error& e) {
        // The message names the text it refused (an empty text leaves '' in it).
        CHECK(std::string(e.what()).find("'" + std::string(text) + "'") != std::string::npos);
        return e.code();
    }
    FAIL("device::parse('" << std::string(text) << "') did not throw");
    return ptio::errc::not_found;
}

}  // namespace

TEST_CASE("device: parse and str round-trip torch's spellings") {
    struct row {
        std::string_view text;
        ptio::device::type kind;
        int index;
        std::string_view str;  // how str() prints it back
    };
    const row rows[] = {
        {"cpu", ptio::device::type::cpu, -1, "cpu"},
        {"cpu:0", ptio::device::type::cpu, -1, "cpu"},
        {"meta", ptio::device::type::meta, -1, "meta"},
        {"cuda", ptio::device::type::cuda, -1, "cuda"},
        {"cuda:0", ptio::device::type::cuda, 0, "cuda:0"},
        {"cuda:1", ptio::device::type::cuda, 1, "cuda:1"},
        {"cuda:15", ptio::device::type::cuda, 15, "cuda:15"},
    };
    for (const row& r : rows) {
        INFO("text: ", std::string(r.text));
        const ptio::device d = ptio::device::parse(r.text);
        CHECK(d.kind == r.kind);
        CHECK(d.index == r.index);
        CHECK(d.str() == r.str);
        CHECK(ptio::device::parse(d.str()) == d);  // str() parses back to the same device
    }
    CHECK(ptio::device::parse("cuda:1").ordinal() == 1);
    CHECK(ptio::device::parse("cuda").ordinal() == 0);  // the current device, 0 in ptio
    CHECK(ptio::device::parse("cpu").is_cpu());
    CHECK(ptio::device::parse("meta").is_meta());
    CHECK(ptio::device::parse("cuda:3").is_cuda());
    CHECK(ptio::device::cpu().str() == "cpu");
    CHECK(ptio::device::meta().str() == "meta");
    CHECK(ptio::device::cuda().str() == "cuda:0");
    CHECK(ptio::device::cuda(2).str() == "cuda:2");
    CHECK(ptio::device{}.is_cpu());
}

TEST_CASE("device: parse refuses anything else with invalid_argument") {
    for (std::string_view text :
         {"cuda:-1", "gpu", "cuda:x", "meta:0", "", "cuda:", "cuda:1:0", "cuda:1x", "cuda: 1",
          "cuda:+1", "CUDA", "Cpu", "cpu:1", "cpu:", ":0", "mps", "xpu:0", "cuda0",
          "cuda:99999999999999999999"}) {
        INFO("text: '", std::string(text), "'");
        CHECK(parse_error(text) == ptio::errc::invalid_argument);
    }
}

TEST_CASE("device: equality compares kind and CUDA ordinal") {
    using ptio::device;
    CHECK(device::cpu() == device::parse("cpu"));
    CHECK(device::meta() == device::parse("meta"));
    CHECK(device::cuda(1) == device::parse("cuda:1"));
    CHECK(device::cuda(0) == device::parse("cuda"));  // bare cuda is ordinal 0
    CHECK(device{device::type::cuda, -1} == device::cuda(0));
    CHECK_FALSE(device::cuda(0) == device::cuda(1));
    CHECK_FALSE(device::cpu() == device::meta());
    CHECK_FALSE(device::cpu() == device::cuda(0));
    CHECK_FALSE(device::meta() == device::cuda(0));
    CHECK(device::cuda(1) != device::cuda(2));
    // The index means nothing for cpu and meta.
    CHECK(device{device::type::cpu, 3} == device::cpu());
}

TEST_CASE("device: CUDA queries agree with the build and the machine") {
    const int count = ptio::cuda_device_count();
    CHECK(count >= 0);
    CHECK(ptio::cuda_device_count() == count);  // stable within a process
    if (!ptio::built_with_cuda()) CHECK(count == 0);
    // One past the last device (every device when there is none) does not exist.
    for (int ordinal : {count, -1}) {
        INFO("ordinal ", ordinal);
        try {
            (void)ptio::cuda_memory_info(ordinal);
            FAIL("cuda_memory_info of a missing device did not throw");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::cuda_unavailable);
        }
        try {
            (void)ptio::cuda_device_name(ordinal);
            FAIL("cuda_device_name of a missing device did not throw");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::cuda_unavailable);
        }
        try {
            (void)ptio::cuda_copy_bandwidth(ordinal, 4096, ptio::host_memory::pinned, 1);
            FAIL("cuda_copy_bandwidth of a missing device did not throw");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::cuda_unavailable);
        }
    }
    if (count > 0) {
        const ptio::cuda_memory m = ptio::cuda_memory_info(0);
        CHECK(m.total > 0);
        CHECK(m.free <= m.total);
        CHECK_FALSE(ptio::cuda_device_name(0).empty());
    }
}
