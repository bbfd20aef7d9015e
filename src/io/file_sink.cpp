// file_sink: POSIX calls behind a small buffer. Where the file system has O_TMPFILE the file
// is written without a name and linked into place when complete, so a process killed midway
// (SIGKILL included) leaves nothing; elsewhere the temporary name carries a random suffix, is
// opened O_EXCL (two saves to one destination never share it) and is removed on SIGINT,
// SIGTERM and SIGHUP by signal_cleanup.
#include "io/file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "io/guard.hpp"
#include "ptio/error.hpp"

namespace ptio::detail {
namespace {
constexpr std::size_t buf_cap = std::size_t{1} << 20;

std::filesystem::path temporary_name(const std::filesystem::path& dst) {
    std::random_device rd;
    std::filesystem::path tmp = dst;
    tmp += ".ptio-tmp-" + std::to_string(rd());
    return tmp;
}
}  // namespace

file_sink::file_sink(std::filesystem::path destination) : dst_(std::move(destination)) {
    std::filesystem::path dir = dst_.parent_path();
    if (dir.empty()) dir = ".";
#ifdef O_TMPFILE
    fd_ = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
#endif
    if (fd_ < 0) {  // no O_TMPFILE here (kernel or file system): a name, removed on signals
        tmp_ = temporary_name(dst_);
        fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd_ < 0) fail("cannot create " + tmp_.string(), 0);
        cleanup_.emplace(tmp_.string());
    }
    buf_.reserve(buf_cap);
}

file_sink::~file_sink() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void file_sink::write(std::span<const std::byte> b) {
    if (b.size() >= buf_cap) {
        flush();
        put(b);
        check_still_mapped(b);  // the kernel read zeros for any part past a shrunk file's end
    } else {
        if (buf_.size() + b.size() > buf_cap) flush();
        const std::size_t at = buf_.size();
        buf_.resize(at + b.size());
        guarded_copy(buf_.data() + at, b);  // b may be a mapping that shrinks
    }
    pos_ += b.size();
}

void file_sink::commit(bool sync) {
    flush();
    if (sync && ::fsync(fd_) != 0) fail("fsync failed", pos_);
    if (tmp_.empty()) {
        link_into_place();
    } else {
        close_fd();
        if (::rename(tmp_.c_str(), dst_.c_str()) != 0)
            fail("cannot rename the finished file into place", pos_);
        cleanup_.reset();  // the name is the destination's now: a signal must not remove it
    }
    committed_ = true;
    close_fd();
}

void file_sink::link_into_place() {
    // The unnamed file gets its name through /proc (linkat with AT_EMPTY_PATH would need
    // CAP_DAC_READ_SEARCH). An existing destination is replaced atomically: the file is
    // linked under a temporary name and renamed over it at once, the only moment a name of
    // ours exists that a kill could leave.
    const std::string self = "/proc/self/fd/" + std::to_string(fd_);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, dst_.c_str(), AT_SYMLINK_FOLLOW) == 0) return;
    if (errno != EEXIST) fail("cannot link the finished file into place", pos_);
    const std::filesystem::path tmp = temporary_name(dst_);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) != 0)
        fail("cannot link the finished file beside the destination", pos_);
    if (::rename(tmp.c_str(), dst_.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        errno = e;
        fail("cannot rename the finished file into place", pos_);
    }
}

void file_sink::close_fd() {
    if (fd_ < 0) return;
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close failed", pos_);
}

void file_sink::flush() {
    put(buf_);
    buf_.clear();
}

void file_sink::put(std::span<const std::byte> b) {
    const std::byte* p = b.data();
    std::size_t left = b.size();
    while (left > 0) {
        // One call writes at most 1 GiB: Linux caps a write near 2 GiB anyway.
        const ssize_t n = ::write(fd_, p, std::min<std::size_t>(left, std::size_t{1} << 30));
        if (n < 0) {
            if (errno == EINTR) continue;
            std::string file;
            std::uint64_t offset = 0;
            // The kernel met the same shrunk page a read would have: EFAULT, not SIGBUS.
            if (errno == EFAULT && mapping_of(p, &file, &offset)) throw_shrank(file, {}, offset);
            if (errno == EFBIG)
                fail("the file would pass the file-size limit (ulimit -f)", written_);
            fail(std::string("write failed: ") + std::strerror(errno), written_);
        }
        p += n;
        left -= static_cast<std::size_t>(n);
        written_ += static_cast<std::uint64_t>(n);
    }
}

void file_sink::fail(const std::string& what, std::uint64_t offset) const {
    const int e = errno;
    throw error(errc::io_error, dst_.string(), "", offset,
                what + (e != 0 && what.find(':') == std::string::npos ? std::string(": ") + std::strerror(e) : ""));
}

}  // namespace ptio::detail
