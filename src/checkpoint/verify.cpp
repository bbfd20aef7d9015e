// What open deferred, checked on request: every record's bytes and CRC-32 (zip), or every
// storage's element count against its reference (legacy; the tar format has no CRCs either).
// Problems are reported, never thrown; an io_error (the file shrank under its mapping) is.
#include <new>

#include "checkpoint/file_source.hpp"

namespace ptio::detail {

std::size_t file_source::verify(const std::function<void(const error&)>& problem) const {
    std::size_t count = 0;
    auto report = [&](const error& e) {
        ++count;
        if (problem) problem(e);
    };
    if (!zip_) {
        // Each legacy blob's element count, read here without touching the blob's bytes.
        for (const auto& s : storages_) {
            try {
                bool in_file = false;
                (void)s.copy_source(in_file);
            } catch (const error& err) {
                report(err);
            }
        }
        return count;
    }
    const auto& z = *zip_;
    for (const auto& e : z.entries()) {
        try {
            // Streamed: a deflated record costs one piece of memory, not a copy of it.
            z.check_crc(e);
        } catch (const error& err) {
            // A file that shrank while being read is not a problem of this record: the
            // rest cannot be read either.
            if (err.code() == errc::io_error) throw;
            report(err);
        } catch (const std::bad_alloc&) {
            report(error(errc::limit_exceeded, file_, std::string(e.name), e.header_offset,
                         "out of memory reading the record"));
        }
    }
    return count;
}

}  // namespace ptio::detail
