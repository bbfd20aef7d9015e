// fixture_support — what the tests on torch-written fixtures share: opening a fixture of
// PTIO_FIXTURE_DIR, reading a tensor's elements, the IEEE half and bfloat16 patterns, looking
// up dict entries, and a summary of a tensor table for comparing two opens. Test code only.
#pragma once

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ptio/ptio.hpp>
#include "support/names.hpp"

namespace fixture_support {

namespace fs = std::filesystem;

inline fs::path fixture(std::string_view name) { return fs::path(PTIO_FIXTURE_DIR) / name; }

inline ptio::checkpoint open_fixture(std::string_view name) {
    return ptio::checkpoint::open(fixture(name));
}

inline std::vector<std::byte> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    std::vector<char> chars{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::vector<std::byte> out(chars.size());
    std::memcpy(out.data(), chars.data(), chars.size());
    return out;
}

inline const ptio::tensor& tensor_named(const ptio::checkpoint& ck, std::string_view name) {
    const ptio::named_tensor* t = ck.find(name);
    INFO("tensor ", std::string(name));
    REQUIRE(t != nullptr);
    REQUIRE(t->tensor != nullptr);
    return *t->tensor;
}

template <class T>
std::vector<T> elements(const ptio::tensor_view& v) {
    REQUIRE(sizeof(T) == v.element_size());
    const std::vector<std::byte> bytes = v.to_contiguous();
    REQUIRE(bytes.size() == static_cast<std::size_t>(v.numel()) * sizeof(T));
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
}

inline std::vector<std::int64_t> dims(std::span<const std::int64_t> s) { return {s.begin(), s.end()}; }

inline float f(std::int64_t x) { return static_cast<float>(x); }

// IEEE half and bfloat16 bit patterns to float (normal numbers and zero suffice here).
inline float half_to_float(std::uint16_t h) {
    const int exponent = (h >> 10) & 0x1f;
    const float mantissa = static_cast<float>(h & 0x3ff) / 1024.0f;
    const float magnitude = exponent == 0 ? std::ldexp(mantissa, -14)
                                          : std::ldexp(1.0f + mantissa, exponent - 15);
    return (h & 0x8000) ? -magnitude : magnitude;
}
inline float bfloat16_to_float(std::uint16_t b) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

// The value under a dict key of any kind whose key_text is `key` (int keys: "7").
inline const ptio::value* entry_by_text(const ptio::value& dict, std::string_view key) {
    for (const auto& [k, v] : dict.entries())
        if (ptio::key_text(k) == key) return &v;
    return nullptr;
}

inline const ptio::value& get(const ptio::value& dict, std::string_view key) {
    INFO("key ", std::string(key));
    REQUIRE(dict.is(ptio::kind::dict));
    const ptio::value* v = dict.get(key);
    REQUIRE(v != nullptr);
    return *v;
}

// Everything a tensor table says, element bytes included, for comparing two opens.
struct tensor_summary {
    std::string name;
    std::vector<std::string> path;
    std::string dtype;
    std::vector<std::int64_t> shape, strides;
    std::int64_t offset = 0;
    bool requires_grad = false, is_parameter = false;
    std::string storage_key;
    std::vector<std::byte> data;
    bool operator==(const tensor_summary&) const = default;
};

inline std::vector<tensor_summary> summarize(const ptio::checkpoint& ck) {
    std::vector<tensor_summary> out;
    for (const ptio::named_tensor& nt : ck.tensors()) {
        const ptio::tensor_view& v = nt.tensor->view();
        out.push_back({std::string(nt.name), test_support::path_of(nt.path), std::string(ptio::name(v.dtype())), dims(v.shape()),
                       dims(v.strides()), v.storage_offset(), nt.tensor->requires_grad(),
                       nt.tensor->is_parameter(), std::string(v.storage_key()),
                       v.to_contiguous()});
    }
    return out;
}

inline std::vector<std::string> names(const ptio::checkpoint& ck) {
    std::vector<std::string> out;
    for (const ptio::named_tensor& nt : ck.tensors()) out.emplace_back(nt.name);
    return out;
}

}  // namespace fixture_support
