#include "ptio/map_location.hpp"

#include "ptio/error.hpp"

namespace ptio {

namespace {

[[noreturn]] void fail(errc code, std::string_view file, std::string_view key, std::string why) {
    throw error(code, std::string(file), key.empty() ? std::string() : "data/" + std::string(key),
                std::nullopt, std::move(why));
}

std::string what_storage(std::string_view key) {
    return key.empty() ? "a storage" : "storage '" + std::string(key) + "'";
}

// A CUDA destination this process cannot serve fails as torch's validate_cuda_device does.
device check_cuda(device d, std::string_view file, std::string_view key) {
    const int count = cuda_device_count();
    if (count == 0)
        fail(errc::cuda_unavailable, file, key,
             "attempting to deserialize " + what_storage(key) + " on a CUDA device (" + d.str() +
                 ") but no CUDA device is available" +
                 (built_with_cuda() ? "" : " (ptio was built without CUDA)") +
                 "; pass map_location=cpu to load it onto the CPU");
    if (d.ordinal() >= count)
        fail(errc::cuda_unavailable, file, key,
             "attempting to deserialize " + what_storage(key) + " on CUDA device " +
                 std::to_string(d.ordinal()) + " but only " + std::to_string(count) +
                 " CUDA device" + (count == 1 ? " is" : "s are") +
                 " available; pass a map_location that names an existing device (cuda:0, cpu)");
    return d;
}

}  // namespace

map_location::map_location(tag_map tags) {
    // Refuse now a value the default restore would refuse later (torch's tags: "cpu" exactly,
    // "meta", "cuda" or "cuda:N"); whether the device exists is decided per storage.
    for (const auto& [from, to] : tags) {
        bool ok = to == "cpu" || to == "meta";
        if (!ok && to.starts_with("cuda")) {
            try {
                ok = device::parse(to).is_cuda();
            } catch (const error&) {
            }
        }
        if (!ok || from.empty())
            throw error(errc::invalid_argument,
                        "bad map_location entry '" + from + "' → '" + to +
                            "' (values are cpu, meta, cuda or cuda:N)");
    }
    rule_ = std::move(tags);
}

map_location map_location::parse(std::string_view spec) {
    if (spec.find('=') == std::string_view::npos) return map_location(spec);
    tag_map tags;
    while (!spec.empty()) {
        const auto comma = spec.find(',');
        const std::string_view item = spec.substr(0, comma);
        const auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size())
            throw error(errc::invalid_argument,
                        "bad map_location entry '" + std::string(item) +
                            "' (expected SAVED=DEVICE, as in cuda:1=cuda:0)");
        tags[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
        if (comma == std::string_view::npos) break;
        spec = spec.substr(comma + 1);
        if (spec.empty())
            throw error(errc::invalid_argument, "bad map_location: a trailing ','");
    }
    return map_location(std::move(tags));
}

device restore_location(std::string_view tag, std::string_view file, std::string_view key) {
    if (tag == "cpu") return device::cpu();
    if (tag == "meta") return device::meta();
    if (tag.starts_with("cuda")) {
        device d;
        try {
            d = device::parse(tag);
        } catch (const error&) {
            fail(errc::unknown_location, file, key,
                 "don't know how to restore " + what_storage(key) + " (tagged with " +
                     std::string(tag) + ")");
        }
        return check_cuda(d, file, key);
    }
    fail(errc::unknown_location, file, key,
         "don't know how to restore data location of " + what_storage(key) + " (tagged with " +
             std::string(tag) + "): ptio loads onto cpu, cuda and meta; pass map_location=cpu");
}

device map_location::resolve(const storage_info& s, std::string_view file) const {
    struct visitor {
        const storage_info& s;
        std::string_view file;
        device operator()(std::monostate) const { return restore_location(s.location, file, s.key); }
        device operator()(const device& d) const {
            return d.is_cuda() ? check_cuda(d, file, s.key) : d;
        }
        device operator()(const tag_map& m) const {
            auto it = m.find(s.location);
            return restore_location(it == m.end() ? s.location : std::string_view(it->second),
                                    file, s.key);
        }
        device operator()(const callable& f) const {
            std::optional<device> d = f(s, s.location);
            if (!d) return restore_location(s.location, file, s.key);
            return d->is_cuda() ? check_cuda(*d, file, s.key) : *d;
        }
    };
    return std::visit(visitor{s, file}, rule_);
}

std::string map_location::str() const {
    struct visitor {
        std::string operator()(std::monostate) const { return "none"; }
        std::string operator()(const device& d) const { return d.str(); }
        std::string operator()(const tag_map& m) const {
            std::string out = "{";
            for (const auto& [k, v] : m) out += (out.size() > 1 ? ", " : "") + k + ": " + v;
            return out + "}";
        }
        std::string operator()(const callable&) const { return "<callable>"; }
    };
    return std::visit(visitor{}, rule_);
}

}  // namespace ptio
