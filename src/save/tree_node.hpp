// tree_node — what a ptio::tree handle points to (tree.hpp), shared by tree.cpp and the writer.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ptio/dtype.hpp"
#include "ptio/tree.hpp"
#include "ptio/value.hpp"

namespace ptio {
class device_tensor;
}

namespace ptio::detail {

class storage;

/// One storage to write. Two save_storages with the same identity are one storage in the
/// file (a checkpoint's storage, a device allocation, or the save_storage itself).
struct save_storage {
    const void* identity = nullptr;
    std::uint64_t nbytes = 0;
    std::string location = "cpu";
    std::span<const std::byte> borrowed;          // caller bytes
    std::vector<std::byte> owned;                 // bytes taken over
    const detail::storage* checkpoint = nullptr;  // read at save time
    const device_tensor* device = nullptr;        // copied back at save time
};

enum class dict_class : std::uint8_t { dict, ordered_dict, counter, defaultdict };

struct tree_node {
    kind type = kind::none;
    bool b = false;
    std::int64_t i = 0;
    double f = 0;
    std::string text;  // str (UTF-8), bytes, big int (two's complement little-endian)
    bool bytearray = false;
    bool frozen = false;
    dict_class dict = dict_class::dict;
    std::vector<tree> items;                   // list, tuple, set; an object's APPENDs
    std::vector<std::pair<tree, tree>> entries;  // dict; an object's SETITEMs
    // dict: where each str key sits in entries, so set() stays O(1) on large state_dicts.
    // Built by the first set(); anything else that edits the keys drops it.
    std::unordered_map<std::string, std::size_t> str_keys;
    bool str_keys_valid = false;
    std::shared_ptr<tree_node> state;          // BUILD after the items, or null

    // object
    std::string module, name;
    value::origin origin = value::origin::global;
    std::shared_ptr<tree_node> args;  // a tuple, or null for a bare global

    // tensor
    std::shared_ptr<const save_storage> storage;  // null: meta (no data)
    dtype elem = dtype::float32;
    std::vector<std::int64_t> shape, strides;
    std::int64_t offset = 0;
    bool requires_grad = false;
    bool parameter = false;
    bool conj = false, neg = false;
};

}  // namespace ptio::detail
