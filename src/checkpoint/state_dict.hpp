// state_dict — names the tensors of pickled modules and optimizers as their state_dict() would.
#pragma once

#include <vector>

#include "ptio/checkpoint.hpp"
#include "checkpoint/tensor_lister.hpp"

namespace ptio::detail {

/// Lists every tensor under `root` into the lister's output, named by checkpoint::state_dict()'s
/// rules. Throws errc::limit_exceeded where the lister's caps are passed.
void list_state_dict(const value& root, tensor_lister& lister);

}  // namespace ptio::detail
