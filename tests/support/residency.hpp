// residency — which pages of a file are in the page cache (mincore), after evicting them.
//
// For tests of "open reads no storage page": evict() drops the file from the page cache
// (fdatasync, then POSIX_FADV_DONTNEED); resident(from, to) counts the cached pages in that
// byte range; evicted() says whether the kernel honoured the drop (it may not, under some
// filesystems), in which case the caller skips its checks.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <vector>

namespace ptio_test {

class page_probe {
public:
    explicit page_probe(const std::filesystem::path& path)
        : fd_(::open(path.c_str(), O_RDONLY)), size_(static_cast<std::size_t>(std::filesystem::file_size(path))),
          page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) {
        if (fd_ < 0) return;
        ::fdatasync(fd_);
        ::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED);
        map_ = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    }
    page_probe(const page_probe&) = delete;
    page_probe& operator=(const page_probe&) = delete;
    ~page_probe() {
        if (map_ != MAP_FAILED) ::munmap(map_, size_);
        if (fd_ >= 0) ::close(fd_);
    }

    [[nodiscard]] bool ok() const noexcept { return fd_ >= 0 && map_ != MAP_FAILED; }
    /// The drop worked: at most a few pages are cached (some kernels keep the first).
    [[nodiscard]] bool evicted() const { return resident(0, size_) <= 16; }
    [[nodiscard]] std::size_t page() const noexcept { return page_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    /// Cached pages that hold bytes of [from, to).
    [[nodiscard]] std::size_t resident(std::size_t from, std::size_t to) const {
        std::vector<unsigned char> vec((size_ + page_ - 1) / page_);
        ::mincore(map_, size_, vec.data());
        std::size_t count = 0;
        for (std::size_t p = from / page_; p < (to + page_ - 1) / page_ && p < vec.size(); ++p) count += vec[p] & 1;
        return count;
    }

private:
    int fd_;
    std::size_t size_;
    std::size_t page_;
    void* map_ = MAP_FAILED;
};

}  // namespace ptio_test
