// ptio/map_location.hpp — where each storage of a checkpoint goes, as torch.load decides it.
//
//   ptio::map_location{}                                  // each storage to its saved tag
//   ptio::map_location{"cpu"}                             // everything to one device
//   ptio::map_location{ptio::device::cuda(0)}
//   ptio::map_location{{{"cuda:1", "cuda:0"}}}            // rename tags; others keep theirs
//   ptio::map_location{[](const ptio::storage_info& s, std::string_view tag)
//                          -> std::optional<ptio::device> { ... }}
//
// The four forms are torch.load's. A string or device replaces every saved
// tag; a dict maps a saved tag to a new one (tags it lacks keep their own); a callable sees each
// storage and its saved tag and returns a device, or nothing for the default rule. The default
// rule restores a tag: "cpu" to the CPU, "cuda…" to that CUDA device, "meta" to metadata
// without data; any other tag ("mps", "xpu:0", …) has no device here and is an error.
//
// Errors are worded like torch's: a CUDA tag with no CUDA device raises cuda_unavailable
// ("… on a CUDA device but no CUDA device is available …; pass map_location=cpu"), an
// ordinal past the device count the same, an unknown tag unknown_location.
// Thread-safety: resolve() is const; a callable must be safe to call from the loading thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "ptio/device.hpp"
#include "ptio/dtype.hpp"

namespace ptio {

/// What a map_location callable is told about a storage (torch passes the CPU storage).
struct storage_info {
    std::string_view key;       ///< the storage key in the file ("0"); its record is data/<key>
    std::uint64_t nbytes = 0;   ///< bytes of the storage
    ptio::dtype dtype = ptio::dtype::uint8;  ///< its element type (uint8 for untyped storages)
    std::string_view location;  ///< the tag saved with it ("cuda:1")
};

class map_location {
public:
    using callable =
        std::function<std::optional<device>(const storage_info&, std::string_view saved_tag)>;
    using tag_map = std::map<std::string, std::string, std::less<>>;

    /// None: each storage goes where its saved tag says.
    map_location() = default;
    /// Everything to one device.
    map_location(device d) : rule_(d) {}  // NOLINT(google-explicit-constructor): as torch.load
    /// Everything to the device this text names; checked here (invalid_argument).
    map_location(std::string_view text) : rule_(device::parse(text)) {}  // NOLINT
    map_location(const char* text) : map_location(std::string_view(text)) {}  // NOLINT
    /// A dict of tags: saved tag → tag to restore with. Values are parsed here.
    map_location(tag_map tags);  // NOLINT
    /// A callable, as torch.load's.
    map_location(callable f) : rule_(std::move(f)) {}  // NOLINT

    /// Parse the CLI's spelling: "cpu", "cuda:0", "meta", or a dict "cuda:1=cuda:0,cuda:2=cpu".
    [[nodiscard]] static map_location parse(std::string_view spec);

    /// The device a storage goes to. Throws cuda_unavailable when it names a CUDA device this
    /// process does not have, unknown_location for a tag with no device here.
    /// `file` names the checkpoint in the error.
    [[nodiscard]] device resolve(const storage_info& storage, std::string_view file = {}) const;

    /// "none", "cuda:0", "{cuda:1: cuda:0}", "<callable>": for messages and the CLI.
    [[nodiscard]] std::string str() const;

private:
    std::variant<std::monostate, device, tag_map, callable> rule_;
};

/// torch's default restore of a saved tag: "cpu", "cuda[:N]", "meta"; anything else throws
/// unknown_location, a CUDA tag this process cannot serve cuda_unavailable.
[[nodiscard]] device restore_location(std::string_view tag, std::string_view file = {},
                                      std::string_view storage_key = {});

}  // namespace ptio
