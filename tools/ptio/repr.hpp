// tools/ptio/repr.hpp — the object tree printed as Python's repr() would print it.
#pragma once

#include <cstddef>
#include <string>

#include "ptio/tensor.hpp"
#include "ptio/value.hpp"

namespace ptio_cli {

/// Appends repr(root) and a newline. Containers whose one-line form would pass `width`
/// columns are written one element per line, indented two spaces per level, each element
/// followed by a comma. Tensors are summarised (tensor_summary); objects ptio did not run
/// print as `module.name` (a bare global), `module.name(args)` (a call) or with their
/// `state=`, `items=` and `entries=` after the arguments. Cycles print as Python prints
/// them ("[...]", "{...}", "(...)", "..."), and so does a large subtree printed before
/// (see walk.hpp).
void append_repr(std::string& out, const ptio::value& root, std::size_t width = 100);

/// `tensor(float32, [3, 4])`, `Parameter(float32, [3], requires_grad=True)`, with
/// `device='cuda:0'` for a location other than "cpu".
void append_tensor_summary(std::string& out, const ptio::tensor& t);

}  // namespace ptio_cli
