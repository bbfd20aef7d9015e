// zip/format.hpp — the signatures and markers of the zip container, shared by
// the reader (archive.cpp) and the writer (writer.cpp).
#pragma once

#include <cstdint>

namespace ptio::detail::zip {

inline constexpr std::uint32_t local_sig = 0x04034b50;
inline constexpr std::uint32_t descriptor_sig = 0x08074b50;
inline constexpr std::uint32_t central_sig = 0x02014b50;
inline constexpr std::uint32_t eocd_sig = 0x06054b50;
inline constexpr std::uint32_t zip64_eocd_sig = 0x06064b50;
inline constexpr std::uint32_t zip64_locator_sig = 0x07064b50;
/// A 32-bit size or offset field at this value means "see the ZIP64 extra field".
inline constexpr std::uint32_t u32_max = 0xFFFFFFFFu;

}  // namespace ptio::detail::zip
