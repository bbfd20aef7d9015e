// ptio/version.hpp — the library's version.
#pragma once

#define PTIO_VERSION_MAJOR 0
#define PTIO_VERSION_MINOR 1
#define PTIO_VERSION_PATCH 0

namespace ptio {
inline constexpr const char* version_string = "0.1.0";
}  // namespace ptio
