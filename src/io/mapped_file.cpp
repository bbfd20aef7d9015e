#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <new>

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <system_error>

#include "io/guard.hpp"
#include "ptio/error.hpp"

namespace ptio::detail {

namespace bip = boost::interprocess;

// A mapping is registered while it lives, so that a fault in it can name its file.
struct mapped_file::region {
    bip::file_mapping file;
    bip::mapped_region map;
    ~region() {
        if (map.get_address() != nullptr) unregister_mapping(static_cast<const std::byte*>(map.get_address()));
    }
};

namespace {

// Reads `size` bytes of the open file `fd` from its start into `out`. A file that shrank since
// it was sized gives the bytes it still has.
std::size_t read_whole(int fd, const std::string& name, std::byte* out, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(done));
        if (n > 0)
            done += static_cast<std::size_t>(n);
        else if (n == 0)
            break;
        else if (errno != EINTR)
            throw error(errc::io_error, name, {}, done, std::string("read failed: ") + std::strerror(errno));
    }
    return done;
}

struct fd_closer {
    int fd;
    ~fd_closer() { ::close(fd); }
};

}  // namespace

void mapped_file::buffer_delete::operator()(std::byte* p) const noexcept {
    ::operator delete[](p, std::align_val_t{buffer_alignment});
}

mapped_file mapped_file::map(const std::filesystem::path& path, mode m) {
    auto out = map_unless_directory(path, m);
    if (!out)
        throw error(errc::io_error, path.string(), {}, std::nullopt,
                    "is a directory, not a checkpoint file");
    return std::move(*out);
}

std::optional<mapped_file> mapped_file::map_unless_directory(const std::filesystem::path& path, mode m) {
    const std::string name = path.string();
    // One lookup of the path: open, then fstat the descriptor (a small file's whole open is
    // open, fstat, pread, close). O_NONBLOCK: opening a FIFO does not wait for a writer (it is
    // then refused as not a regular file).
    const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        const int e = errno;
        struct ::stat st {};
        if (::stat(name.c_str(), &st) != 0) throw error(errc::io_error, name, {}, std::nullopt, "no such file");
        if (S_ISDIR(st.st_mode)) return std::nullopt;
        throw error(errc::io_error, name, {}, std::nullopt, std::string("cannot open: ") + std::strerror(e));
    }
    const fd_closer closer{fd};
    struct ::stat st {};
    if (::fstat(fd, &st) != 0)
        throw error(errc::io_error, name, {}, std::nullopt, std::string("cannot read size: ") + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) return std::nullopt;
    if (!S_ISREG(st.st_mode)) throw error(errc::io_error, name, {}, std::nullopt, "not a regular file");
    const auto size = static_cast<std::uint64_t>(st.st_size);

    mapped_file out;
    if (size == 0) return out;  // Boost refuses to map an empty file; an empty span is right.
    if (m == mode::read_only && size <= read_limit) {
        out.read_.reset(new (std::align_val_t{buffer_alignment}) std::byte[size]);
        out.bytes_ = {out.read_.get(), read_whole(fd, name, out.read_.get(), size)};
        return out;
    }
    try {
        auto r = std::make_unique<region>();
        r->file = bip::file_mapping(name.c_str(), bip::read_only);
        r->map = bip::mapped_region(r->file, m == mode::copy_on_write ? bip::copy_on_write
                                                                       : bip::read_only);
        out.bytes_ = {static_cast<const std::byte*>(r->map.get_address()), r->map.get_size()};
        register_mapping(out.bytes_.data(), out.bytes_.size(), name, r->file.get_mapping_handle().handle);
        out.region_ = std::move(r);
    } catch (const bip::interprocess_exception& e) {
        throw error(errc::io_error, name, {}, std::nullopt, std::string("cannot map: ") + e.what());
    }
    return std::optional<mapped_file>(std::move(out));
}

mapped_file mapped_file::borrow(std::span<const std::byte> bytes) {
    mapped_file out;
    out.bytes_ = bytes;
    return out;
}

mapped_file mapped_file::adopt(std::vector<std::byte>&& bytes) {
    mapped_file out;
    out.owned_ = std::move(bytes);
    out.bytes_ = out.owned_;
    return out;
}

mapped_file::mapped_file(mapped_file&& o) noexcept
    : region_(std::move(o.region_)), read_(std::move(o.read_)), owned_(std::move(o.owned_)), bytes_(o.bytes_) {
    // A moved vector keeps its buffer, so bytes_ stays valid for adopted memory too.
    o.bytes_ = {};
}

mapped_file& mapped_file::operator=(mapped_file&& o) noexcept {
    region_ = std::move(o.region_);
    read_ = std::move(o.read_);
    owned_ = std::move(o.owned_);
    bytes_ = o.bytes_;
    o.bytes_ = {};
    return *this;
}

mapped_file::mapped_file() = default;
mapped_file::~mapped_file() = default;

bool mapped_file::is_read_only_mapping() const noexcept {
    return region_ && region_->map.get_mode() == bip::read_only;
}

void mapped_file::read_at(std::uint64_t offset, std::span<std::byte> out) const {
    if (!region_) throw error(errc::io_error, "read_at on bytes that are not a file");
    const int fd = region_->file.get_mapping_handle().handle;
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::pread(fd, out.data() + done, out.size() - done,
                                  static_cast<off_t>(offset + done));
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (n == 0) throw_shrank(std::string(region_->file.get_name()), {}, offset + done);
            throw error(errc::io_error, std::string(region_->file.get_name()), {}, offset + done,
                        std::string("read failed: ") + std::strerror(errno));
        }
    }
}

void mapped_file::release_pages() const noexcept {
    if (!is_read_only_mapping() || bytes_.empty()) return;
    // The region's address is page-aligned and its pages are the file's (never written), so
    // dropping them loses nothing; failure leaves them resident, which is harmless.
    (void)::madvise(region_->map.get_address(), region_->map.get_size(), MADV_DONTNEED);
}

void mapped_file::advise(advice a) const noexcept {
    if (!region_) return;
    int flag = MADV_NORMAL;
    switch (a) {
        case advice::normal: flag = MADV_NORMAL; break;
        case advice::random: flag = MADV_RANDOM; break;
        case advice::sequential: flag = MADV_SEQUENTIAL; break;
        case advice::willneed: flag = MADV_WILLNEED; break;
    }
    // The region's address is page-aligned; advice is a hint, so failures are ignored.
    (void)::madvise(region_->map.get_address(), bytes_.size(), flag);
}

}  // namespace ptio::detail
