// tools/ptio/process_memory.cpp — resident memory figures from /proc and getrusage.
#include "process_memory.hpp"

#include <charconv>
#include <fstream>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace ptio_cli {

namespace {

// A "Name:   1234 kB" line of /proc/self/status, in bytes.
std::optional<std::uint64_t> status_field(std::string_view name) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (!line.starts_with(name) || line.size() <= name.size() || line[name.size()] != ':')
            continue;
        const auto digits = line.find_first_of("0123456789", name.size());
        if (digits == std::string::npos) return std::nullopt;
        std::uint64_t kib = 0;
        const auto [end, ec] = std::from_chars(line.data() + digits, line.data() + line.size(), kib);
        if (ec != std::errc()) return std::nullopt;
        (void)end;
        return kib * 1024;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> resident_bytes() { return status_field("VmRSS"); }
std::optional<std::uint64_t> peak_resident_bytes() { return status_field("VmHWM"); }

std::uint64_t max_rss_bytes() noexcept {
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) != 0 || usage.ru_maxrss < 0) return 0;
    return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux counts KiB
}

bool reset_peak_resident() noexcept {
    try {
        const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
        if (fd < 0) return false;
        const bool written = ::write(fd, "5", 1) == 1;
        ::close(fd);
        if (!written) return false;
        const auto peak = peak_resident_bytes();
        const auto now = resident_bytes();
        // RSS counters are kept per thread and folded in lazily: allow a few MiB of slack.
        constexpr std::uint64_t slack = std::uint64_t{4} << 20;
        return peak && now && *peak <= *now + slack;
    } catch (...) {  // std::ifstream and std::string may throw bad_alloc
        return false;
    }
}

}  // namespace ptio_cli
