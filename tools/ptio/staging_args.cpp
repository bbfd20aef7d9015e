// tools/ptio/staging_args.cpp — the staging options `load` and `bench` share.
#include "staging_args.hpp"

#include <algorithm>
#include <string>
#include <thread>

namespace ptio_cli {

void add_staging_options(CLI::App& app, staging_texts& texts) {
    add_value(app, "--threads", texts.threads, "N",
              R"(threads copying out of the file (default: the number of
cores, at most 12))");
    add_value(app, "--chunk-mb", texts.chunk_mb, "N",
              R"(MiB in one pinned staging chunk, one cudaMemcpyAsync each
(default 4); also the piece size of CPU copies)");
    add_value(app, "--chunks", texts.chunks, "N",
              R"(pinned chunks in the pool (default 32): the pool holds at most
chunks x chunk-mb of pinned host memory)");
    add_value(app, "--pinning", texts.pinning, "alloc|register",
              R"(pin chunks with cudaHostAlloc (alloc, the default) or register
page-aligned memory with cudaHostRegister (register))");
    add_value(app, "--allocation", texts.allocation, "device|storage",
              R"(one allocation per device holding every storage at 256-byte
aligned offsets (device, the default), or one per storage)");
    add_value(app, "--read", texts.read, "pread|mmap",
              R"(read stored records with pread into the chunks (the default) or
memcpy them from the mapping)");
}

staging_args parse_staging_args(const staging_texts& texts) {
    staging_args s;
    s.threads = static_cast<unsigned>(number_option(texts.threads, "threads", 1, 256, 0));
    s.stager.chunk_bytes =
        static_cast<std::size_t>(number_option(texts.chunk_mb, "chunk-mb", 1, 1024, 4)) << 20;
    s.stager.chunks = static_cast<std::size_t>(number_option(texts.chunks, "chunks", 1, 1024, 32));
    if (const auto& p = texts.pinning) {
        if (*p == "alloc")
            s.stager.pin = ptio::pinning::host_alloc;
        else if (*p == "register")
            s.stager.pin = ptio::pinning::host_register;
        else
            throw usage_error("--pinning needs 'alloc' or 'register', not '" + *p + "'");
    }
    if (const auto& a = texts.allocation) {
        if (*a == "device")
            s.allocation = ptio::device_allocation::per_device;
        else if (*a == "storage")
            s.allocation = ptio::device_allocation::per_storage;
        else
            throw usage_error("--allocation needs 'device' or 'storage', not '" + *a + "'");
    }
    if (const auto& r = texts.read) {
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
        case ptio::cpu_placement::view:
            return "view";
        case ptio::cpu_placement::copy_on_write:
            return "cow";
        case ptio::cpu_placement::copy:
            return "copy";
    }
    return "view";
}

json staging_json(const staging_args& s) {
    return {{"threads", effective_threads(s.threads)},
            {"chunk_bytes", s.stager.chunk_bytes},
            {"chunks", s.stager.chunks},
            {"pinning", pinning_name(s.stager.pin)},
            {"allocation", allocation_name(s.allocation)},
            {"read", read_name(s.read)}};
}

}  // namespace ptio_cli
