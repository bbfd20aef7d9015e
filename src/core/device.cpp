#include "ptio/device.hpp"

#include <charconv>

#include "ptio/error.hpp"

namespace ptio {

device device::parse(std::string_view text) {
    auto bad = [&]() -> device {
        throw error(errc::invalid_argument,
                    "not a device: '" + std::string(text) +
                        "' (expected cpu, meta, cuda or cuda:N)");
    };
    std::string_view head = text.substr(0, text.find(':'));
    std::string_view tail;
    const bool has_index = head.size() < text.size();
    if (has_index) tail = text.substr(head.size() + 1);
    int index = -1;
    if (has_index) {
        auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), index);
        if (tail.empty() || ec != std::errc{} || p != tail.data() + tail.size() || index < 0)
            return bad();
    }
    if (head == "cpu" && (!has_index || index == 0)) return cpu();
    if (head == "meta" && !has_index) return meta();
    if (head == "cuda") return {type::cuda, index};
    return bad();
}

std::string device::str() const {
    switch (kind) {
        case type::cpu: return "cpu";
        case type::meta: return "meta";
        case type::cuda: return index < 0 ? "cuda" : "cuda:" + std::to_string(index);
    }
    return "?";
}

}  // namespace ptio
