// zip::writer — torch.save's zip container, record by record.
//
// Each record is stored (never compressed) with a local header whose FB extra field pads the
// payload to the alignment, then the payload, then a data descriptor (none for an empty
// record), exactly as PyTorchStreamWriter writes them; ZIP64 extras appear in a record's
// headers only when its size or its header offset passes 0xFFFFFFFF, and the end of the
// archive is always the ZIP64 end record, its locator and the classic end record.
//
// CRC-32s of large payloads are computed on worker threads while the writing thread copies
// the same bytes to the sink, and joined with crc32_combine.
// Not thread-safe: one thread adds records in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ptio::detail::zip {

/// Where the archive's bytes go, in order.
class sink {
public:
    virtual ~sink() = default;
    virtual void write(std::span<const std::byte> bytes) = 0;
    [[nodiscard]] virtual std::uint64_t position() const noexcept = 0;
};

/// CRC-32 of bytes, on up to `threads` extra threads when they are large.
[[nodiscard]] std::uint32_t crc32_parallel(std::span<const std::byte> bytes, unsigned threads);

class writer {
public:
    struct options {
        std::size_t alignment = 64;
        bool crc32 = true;
        unsigned crc_threads = 0;  ///< extra threads for large payloads
    };

    writer(sink& out, std::string prefix, options opts);

    /// Add `prefix/name` with these bytes. They are read before add returns.
    void add(std::string_view name, std::span<const std::byte> payload);
    /// Write the central directory and the end records. Nothing may be added after.
    void finish();

    [[nodiscard]] bool used_zip64() const noexcept { return zip64_; }

private:
    struct central {
        std::string name;
        std::uint64_t header_offset;
        std::uint64_t size;
        std::uint32_t crc;
        std::uint16_t flags;
    };

    sink& out_;
    std::string prefix_;
    options opts_;
    std::vector<central> entries_;
    std::vector<std::byte> scratch_;
    bool zip64_ = false;
    bool finished_ = false;
};

}  // namespace ptio::detail::zip
