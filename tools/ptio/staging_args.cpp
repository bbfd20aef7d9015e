// tools/ptio/staging_args.cpp — the staging options `load` and `bench` share.
#include "staging_args.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <thread>

namespace ptio_cli {

std::uint64_t number_option(const parsed_args& args, std::string_view name, std::uint64_t lo,
                            std::uint64_t hi, std::uint64_t fallback) {
    const auto text = args.value(name);
    if (!text) return fallback;
    std::uint64_t n = 0;
    const char* first = text->data();
    const char* last = first + text->size();
    const auto [end, ec] = std::from_chars(first, last, n);
    if (text->empty() || ec != std::errc() || end != last || n < lo || n > hi)
        throw usage_error("--" + std::string(name) + " needs a number from " +
                          std::to_string(lo) + " to " + std::to_string(hi) + ", not '" + *text +
                          "'");
    return n;
}

staging_args parse_staging_args(const parsed_args& args) {
    staging_args s;
    s.threads = static_cast<unsigned>(number_option(args, "threads", 1, 256, 0));
    s.stager.chunk_bytes =
        static_cast<std::size_t>(number_option(args, "chunk-mb", 1, 1024, 4)) << 20;
    s.stager.chunks = static_cast<std::size_t>(number_option(args, "chunks", 1, 1024, 32));
    if (const auto p = args.value("pinning")) {
        if (*p == "alloc")
            s.stager.pin = ptio::pinning::host_alloc;
        else if (*p == "register")
            s.stager.pin = ptio::pinning::host_register;
        else
            throw usage_error("--pinning needs 'alloc' or 'register', not '" + *p + "'");
    }
    if (const auto a = args.value("allocation")) {
        if (*a == "device")
            s.allocation = ptio::device_allocation::per_device;
        else if (*a == "storage")
            s.allocation = ptio::device_allocation::per_storage;
        else
            throw usage_error("--allocation needs 'device' or 'storage', not '" + *a + "'");
    }
    if (const auto r = args.value("read")) {
        if (*r == "pread")
            s.read = ptio::file_read::pread;
        else if (*r == "mmap")
            s.read = ptio::file_read::mmap;
        else
            throw usage_error("--read needs 'pread' or 'mmap', not '" + *r + "'");
    }
    return s;
}

unsigned effective_threads(unsigned threads) noexcept {
    if (threads != 0) return threads;
    return std::min(12U, std::max(1U, std::thread::hardware_concurrency()));
}

std::string_view pinning_name(ptio::pinning p) noexcept {
    return p == ptio::pinning::host_alloc ? "alloc" : "register";
}

std::string_view allocation_name(ptio::device_allocation a) noexcept {
    return a == ptio::device_allocation::per_device ? "device" : "storage";
}

std::string_view read_name(ptio::file_read r) noexcept {
    return r == ptio::file_read::pread ? "pread" : "mmap";
}

std::string_view cpu_placement_name(ptio::cpu_placement c) noexcept {
    switch (c) {
    case ptio::cpu_placement::view: return "view";
    case ptio::cpu_placement::copy_on_write: return "cow";
    case ptio::cpu_placement::copy: return "copy";
    }
    return "view";
}

void write_staging_members(json::writer& w, const staging_args& s) {
    w.key("threads").number(std::uint64_t{effective_threads(s.threads)});
    w.key("chunk_bytes").number(std::uint64_t{s.stager.chunk_bytes});
    w.key("chunks").number(std::uint64_t{s.stager.chunks});
    w.key("pinning").string(pinning_name(s.stager.pin));
    w.key("allocation").string(allocation_name(s.allocation));
    w.key("read").string(read_name(s.read));
}

}  // namespace ptio_cli
