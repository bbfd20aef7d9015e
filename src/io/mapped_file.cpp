#include "io/mapped_file.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

mapped_file mapped_file::map(const std::filesystem::path& path, mode m) {
    const std::string name = path.string();
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status))
        throw error(errc::io_error, name, {}, std::nullopt, "no such file");
    if (std::filesystem::is_directory(status))
        throw error(errc::io_error, name, {}, std::nullopt,
                    "is a directory, not a checkpoint file");
    if (!std::filesystem::is_regular_file(status))
        throw error(errc::io_error, name, {}, std::nullopt, "not a regular file");
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw error(errc::io_error, name, {}, std::nullopt, "cannot read size: " + ec.message());

    mapped_file out;
    if (size == 0) return out;  // Boost refuses to map an empty file; an empty span is right.
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
    return out;
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
    : region_(std::move(o.region_)), owned_(std::move(o.owned_)), bytes_(o.bytes_) {
    // A moved vector keeps its buffer, so bytes_ stays valid for adopted memory too.
    o.bytes_ = {};
}

mapped_file& mapped_file::operator=(mapped_file&& o) noexcept {
    region_ = std::move(o.region_);
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
