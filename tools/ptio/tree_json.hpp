// tools/ptio/tree_json.hpp — the object tree as JSON, one object with a "kind" per node.
//
//   {"kind": "none"} | {"kind": "bool", "value": true} | {"kind": "int", "value": 12}
//   {"kind": "float", "value": 0.1}          non-finite values as strings: "nan", "inf", "-inf"
//   {"kind": "str", "value": "text"}         {"kind": "bytes", "hex": "00ff"}
//   {"kind": "list" | "tuple" | "set", "items": [node, …]}
//   {"kind": "dict", "class": "collections.OrderedDict", "entries": [{"key": node,
//    "value": node}, …], "state": node?}
//   {"kind": "tensor", "dtype", "shape", "stride", "storage_offset", "storage", "location",
//    "nbytes", "requires_grad", "parameter"}
//   {"kind": "object", "class": "module.name", "origin": "global" | "call" | "instance",
//    "args": node?, "state": node?, "items": [node, …]?, "entries": [{"key", "value"}, …]?}
//   {"kind": "elided", "reason": "cycle" | "shared" | "depth"}   (see walk.hpp)
//
// Big integers are JSON numbers with all their digits; finite floats are written as Python's
// repr writes them, as `show` prints them. Items and entries are a line each.
#pragma once

#include "json_output.hpp"
#include "ptio/value.hpp"

namespace ptio_cli {

/// Writes the tree under `root` as the next value of `w`.
void write_tree_json(json_writer& w, const ptio::value& root);

}  // namespace ptio_cli
