// cursor — the one bounded reader of untrusted bytes.
//
// Every read checks what is left first; every failure throws ptio::error naming the file,
// the record and the absolute offset. Integers are little-endian unless the name says _be.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "core/checked.hpp"
#include "ptio/error.hpp"

namespace ptio::detail {

/// Where bytes come from, for messages: the file and the record (may be empty).
struct source {
    std::string_view file;
    std::string_view record;
    std::uint64_t base = 0;  ///< absolute offset of the first byte of the span
};

class cursor {
public:
    cursor(std::span<const std::byte> bytes, source src) : bytes_(bytes), src_(src) {}

    [[nodiscard]] std::size_t position() const noexcept { return pos_; }
    [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
    [[nodiscard]] bool at_end() const noexcept { return pos_ == bytes_.size(); }
    [[nodiscard]] std::uint64_t absolute() const noexcept { return src_.base + pos_; }
    [[nodiscard]] const source& where() const noexcept { return src_; }

    void seek(std::size_t pos, std::string_view what) {
        if (pos > bytes_.size()) fail_truncated(what, pos);
        pos_ = pos;
    }

    std::span<const std::byte> take(std::uint64_t n, std::string_view what) {
        if (n > remaining()) fail_truncated(what, n);
        auto out = bytes_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return out;
    }

    std::string_view take_text(std::uint64_t n, std::string_view what) {
        auto s = take(n, what);
        return {reinterpret_cast<const char*>(s.data()), s.size()};
    }

    template <class T>
    T read(std::string_view what) {
        static_assert(std::is_trivially_copyable_v<T>);
        auto s = take(sizeof(T), what);
        T v;
        std::memcpy(&v, s.data(), sizeof(T));
        if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
            if constexpr (sizeof(T) == 2) v = static_cast<T>(__builtin_bswap16(v));
            else if constexpr (sizeof(T) == 4) v = static_cast<T>(__builtin_bswap32(v));
            else v = static_cast<T>(__builtin_bswap64(v));
        }
        return v;
    }
    std::uint8_t u8(std::string_view what) { return read<std::uint8_t>(what); }
    std::uint16_t u16(std::string_view what) { return read<std::uint16_t>(what); }
    std::uint32_t u32(std::string_view what) { return read<std::uint32_t>(what); }
    std::uint64_t u64(std::string_view what) { return read<std::uint64_t>(what); }

    /// A line up to (not including) '\n'; the newline is consumed.
    std::string_view line(std::string_view what) {
        const auto* begin = reinterpret_cast<const char*>(bytes_.data()) + pos_;
        const void* nl = std::memchr(begin, '\n', remaining());
        if (!nl) fail_truncated(what, remaining() + 1);
        const auto len = static_cast<std::size_t>(static_cast<const char*>(nl) - begin);
        pos_ += len + 1;
        return {begin, len};
    }

    [[noreturn]] void fail(errc code, const std::string& detail) const {
        fail_at(code, absolute(), detail);
    }
    [[noreturn]] void fail_at(errc code, std::uint64_t offset, const std::string& detail) const {
        throw error(code, std::string(src_.file), std::string(src_.record), offset, detail);
    }

private:
    [[noreturn]] void fail_truncated(std::string_view what, std::uint64_t need) const {
        fail(errc::truncated, std::string(what) + " needs " + std::to_string(need) +
                                  " bytes but only " + std::to_string(remaining()) + " remain");
    }

    std::span<const std::byte> bytes_;
    source src_;
    std::size_t pos_ = 0;
};

}  // namespace ptio::detail
