// tools/ptio/units.cpp — figures for people and for JSON.
#include "units.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <vector>

namespace ptio_cli {

std::string fixed(double x, int digits) {
    std::array<char, 64> buf{};
    const auto [end, ec] =
        std::to_chars(buf.data(), buf.data() + buf.size(), x, std::chars_format::fixed, digits);
    if (ec != std::errc()) return "?";
    return std::string(buf.data(), end);
}

namespace {

// Three significant digits for values from 1 to 999.
std::string three_digits(double x) { return fixed(x, x < 10 ? 2 : x < 100 ? 1 : 0); }

}  // namespace

std::string human_bytes(std::uint64_t bytes) {
    if (bytes < 1000) return std::to_string(bytes) + " B";
    static constexpr std::array<const char*, 6> units = {"kB", "MB", "GB", "TB", "PB", "EB"};
    double x = static_cast<double>(bytes) / 1e3;
    std::size_t u = 0;
    while (x >= 999.5 && u + 1 < units.size()) {
        x /= 1e3;
        ++u;
    }
    return three_digits(x) + " " + units[u];
}

std::string human_seconds(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "-";
    if (seconds >= 0.9995) return three_digits(seconds) + " s";
    if (seconds >= 0.9995e-3) return three_digits(seconds * 1e3) + " ms";
    if (seconds >= 0.9995e-6) return three_digits(seconds * 1e6) + " us";
    return fixed(seconds * 1e9, 0) + " ns";
}

std::string human_rate(double bytes_per_second) {
    if (!std::isfinite(bytes_per_second) || bytes_per_second <= 0) return "-";
    if (bytes_per_second >= 1e9) return fixed(bytes_per_second / 1e9, 2) + " GB/s";
    if (bytes_per_second >= 1e6) return three_digits(bytes_per_second / 1e6) + " MB/s";
    return three_digits(std::max(bytes_per_second / 1e3, 1.0)) + " kB/s";
}

std::string human_ratio(double x) {
    if (!std::isfinite(x) || x <= 0) return "-";
    return x >= 0.1 ? fixed(x, 2) : fixed(x, 1 - static_cast<int>(std::floor(std::log10(x))));
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

double median(std::span<const double> values) {
    if (values.empty()) return 0;
    std::vector<double> v(values.begin(), values.end());
    std::sort(v.begin(), v.end());
    const std::size_t mid = v.size() / 2;
    return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

double gbps(std::uint64_t bytes, double seconds) noexcept {
    return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0;
}

}  // namespace ptio_cli
