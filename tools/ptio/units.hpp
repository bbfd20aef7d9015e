// tools/ptio/units.hpp — figures for people and for JSON: byte counts, durations, rates,
// medians. Decimal units throughout (MB = 10^6 bytes, GB/s = 10^9 bytes per second), as the
// README's tables have them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ptio_cli {

/// "0 B", "512 B", "12.3 kB", "134.2 MB", "3.94 GB": three significant digits or more.
[[nodiscard]] std::string human_bytes(std::uint64_t bytes);
/// "850 ns", "12.4 us", "3.21 ms", "1.52 s".
[[nodiscard]] std::string human_seconds(double seconds);
/// "5.35 GB/s", "812 MB/s"; "-" when the rate is not a finite positive number.
[[nodiscard]] std::string human_rate(double bytes_per_second);
/// A ratio: "0.83", "1.20"; below 0.1 with two significant digits ("0.0042").
[[nodiscard]] std::string human_ratio(double x);
/// "1 storage", "27 storages".
[[nodiscard]] std::string plural(std::uint64_t n, std::string_view one, std::string_view many);
/// A double as `digits` decimals, for ratios: "0.83".
[[nodiscard]] std::string fixed(double x, int digits);

/// The median (the mean of the middle two for an even count); 0 for none.
[[nodiscard]] double median(std::span<const double> values);
/// bytes / seconds in GB/s; 0 when seconds is not positive.
[[nodiscard]] double gbps(std::uint64_t bytes, double seconds) noexcept;

}  // namespace ptio_cli
