// file_sink: POSIX calls behind a small buffer. The temporary name carries a random suffix and
// is opened O_EXCL, so two saves to one destination never write the same temporary file.
#include "io/file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "ptio/error.hpp"

namespace ptio::detail {
namespace {
constexpr std::size_t buf_cap = std::size_t{1} << 20;
}

file_sink::file_sink(std::filesystem::path destination) : dst_(std::move(destination)) {
    std::random_device rd;
    tmp_ = dst_;
    tmp_ += ".ptio-tmp-" + std::to_string(rd());
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create " + tmp_.string(), 0);
    buf_.reserve(buf_cap);
}

file_sink::~file_sink() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
}

void file_sink::write(std::span<const std::byte> b) {
    if (b.size() >= buf_cap) {
        flush();
        put(b);
    } else {
        if (buf_.size() + b.size() > buf_cap) flush();
        buf_.insert(buf_.end(), b.begin(), b.end());
    }
    pos_ += b.size();
}

void file_sink::commit(bool sync) {
    flush();
    if (sync && ::fsync(fd_) != 0) fail("fsync failed", pos_);
    if (::close(fd_) != 0) {
        fd_ = -1;
        fail("close failed", pos_);
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), dst_.c_str()) != 0) fail("cannot rename the finished file into place", pos_);
    committed_ = true;
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
