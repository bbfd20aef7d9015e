// tools/ptio/page_cache.cpp — drop a file from the page cache and count what stayed.
#include "page_cache.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"

namespace ptio_cli {

namespace {

// Resident bytes of the file, counted through a mapping of it; mapping faults nothing in.
std::optional<std::uint64_t> resident(int fd, std::uint64_t size) {
    if (size == 0) return 0;
    void* base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return std::nullopt;
    const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> in_core((size + page - 1) / page);
    std::optional<std::uint64_t> bytes;
    if (::mincore(base, size, in_core.data()) == 0) {
        std::uint64_t pages = 0;
        for (unsigned char c : in_core) pages += c & 1U;
        bytes = pages * page;
    }
    ::munmap(base, size);
    return bytes;
}

}  // namespace

std::optional<std::uint64_t> drop_from_page_cache(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw ptio::error(ptio::errc::io_error, path, {}, std::nullopt,
                          std::string("cannot open to drop it from the page cache: ") +
                              std::strerror(errno));
    (void)::fdatasync(fd);  // dirty pages are not dropped; a read-only descriptor may sync
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    struct stat st {};
    std::optional<std::uint64_t> left;
    if (::fstat(fd, &st) == 0 && st.st_size >= 0)
        left = resident(fd, static_cast<std::uint64_t>(st.st_size));
    ::close(fd);
    return left;
}

std::vector<std::string> checkpoint_files(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec) || path.ends_with(".index.json"))
        return ptio::checkpoint::open(path).shard_files();
    return {path};
}

void cold_runs::before_run(const std::string& path) {
    if (!enabled_) return;
    std::uint64_t total = 0;
    for (const std::string& file : checkpoint_files(path)) {
        const auto left = drop_from_page_cache(file);
        if (!left) {
            uncounted_ = true;
            return;
        }
        total += *left;
    }
    max_resident_ = std::max(max_resident_.value_or(0), total);
}

}  // namespace ptio_cli
