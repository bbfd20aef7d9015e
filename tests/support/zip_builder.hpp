// zip_builder — writes small zip archives the way torch does (stored records, 64-byte aligned
// payloads through an "FB" extra field, data descriptors, ZIP64 end records), so tests can
// wrap hand-written pickles and storages. Test code only.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace ptio_test {

class zip_builder {
public:
    void add(std::string name, std::string_view payload) {
        const std::uint64_t header = out_.size();
        // Align the payload to 64 as torch does: start = header + 30 + name + 4 (FB header).
        const std::uint64_t start = header + 30 + name.size() + 4;
        const std::uint64_t pad = (64 - start % 64) % 64;
        u32(0x04034b50); u16(0); u16(payload.empty() ? 0x0800 : 0x0808); u16(0); u32(0);
        u32(0); u32(0); u32(0);
        u16(static_cast<std::uint16_t>(name.size())); u16(static_cast<std::uint16_t>(4 + pad));
        bytes(name);
        u16(0x4246); u16(static_cast<std::uint16_t>(pad)); bytes(std::string(pad, 'Z'));
        bytes(payload);
        const std::uint32_t crc = crc32(payload);
        if (!payload.empty()) {
            u32(0x08074b50); u32(crc); u32(static_cast<std::uint32_t>(payload.size()));
            u32(static_cast<std::uint32_t>(payload.size()));
        }
        entries_.push_back({std::move(name), header, payload.size(), crc});
    }

    /// Finish with the central directory and torch's ZIP64 + classic end records.
    std::vector<std::byte> finish() {
        const std::uint64_t cd = out_.size();
        for (const auto& e : entries_) {
            u32(0x02014b50); u16(0); u16(0); u16(e.size ? 0x0808 : 0x0800); u16(0); u32(0);
            u32(e.crc); u32(static_cast<std::uint32_t>(e.size)); u32(static_cast<std::uint32_t>(e.size));
            u16(static_cast<std::uint16_t>(e.name.size())); u16(0); u16(0); u16(0); u16(0); u32(0);
            u32(static_cast<std::uint32_t>(e.header));
            bytes(e.name);
        }
        const std::uint64_t cd_size = out_.size() - cd;
        const std::uint64_t z64 = out_.size();
        u32(0x06064b50); u64(44); u16(0x031E); u16(0x002D); u32(0); u32(0);
        u64(entries_.size()); u64(entries_.size()); u64(cd_size); u64(cd);
        u32(0x07064b50); u32(0); u64(z64); u32(1);
        u32(0x06054b50); u16(0); u16(0); u16(static_cast<std::uint16_t>(entries_.size()));
        u16(static_cast<std::uint16_t>(entries_.size())); u32(static_cast<std::uint32_t>(cd_size));
        u32(static_cast<std::uint32_t>(cd)); u16(0);
        std::vector<std::byte> v(out_.size());
        std::memcpy(v.data(), out_.data(), out_.size());
        return v;
    }

    static std::uint32_t crc32(std::string_view s) {
        std::uint32_t c = 0xFFFFFFFFu;
        for (unsigned char b : s) {
            c ^= b;
            for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        }
        return ~c;
    }

private:
    struct entry {
        std::string name;
        std::uint64_t header, size;
        std::uint32_t crc;
    };
    void u16(std::uint16_t v) { for (int i = 0; i < 2; ++i) out_ += static_cast<char>(v >> (8 * i)); }
    void u32(std::uint32_t v) { for (int i = 0; i < 4; ++i) out_ += static_cast<char>(v >> (8 * i)); }
    void u64(std::uint64_t v) { for (int i = 0; i < 8; ++i) out_ += static_cast<char>(v >> (8 * i)); }
    void bytes(std::string_view s) { out_.append(s); }

    std::string out_;
    std::vector<entry> entries_;
};

/// A protocol-2 pickle of {name: float32 tensor over data/0 of `numel` elements} built by
/// hand, the way torch.save writes it. `shape`/`stride` are the tensor's.
inline std::string tensor_dict_pickle(std::string_view name, std::uint32_t numel,
                                      std::uint32_t offset, std::vector<std::uint32_t> shape,
                                      std::vector<std::uint32_t> stride) {
    std::string p("\x80\x02}q\x00(X", 7);
    auto u32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) p += static_cast<char>(v >> (8 * i)); };
    auto tuple = [&](const std::vector<std::uint32_t>& v) {
        p += '(';
        for (auto x : v) { p += 'J'; u32(x); }
        p += 't';
    };
    u32(static_cast<std::uint32_t>(name.size()));
    p += name;
    p += "ctorch._utils\n_rebuild_tensor_v2\n(";
    p += "(X"; u32(7); p += "storage";
    p += "ctorch\nFloatStorage\nX"; u32(1); p += "0X"; u32(3); p += "cpuJ"; u32(numel);
    p += "tQ";
    p += 'J'; u32(offset);
    tuple(shape);
    tuple(stride);
    p += "\x89" "ccollections\nOrderedDict\n)R";
    p += "tRu.";
    return p;
}

inline std::vector<std::byte> float_checkpoint(std::string_view name, std::uint32_t numel,
                                               std::uint32_t offset, std::vector<std::uint32_t> shape,
                                               std::vector<std::uint32_t> stride,
                                               std::string_view data) {
    zip_builder z;
    z.add("archive/data.pkl", tensor_dict_pickle(name, numel, offset, std::move(shape), std::move(stride)));
    z.add("archive/data/0", data);
    z.add("archive/version", "3\n");
    return z.finish();
}

}  // namespace ptio_test
