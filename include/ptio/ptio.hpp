// ptio/ptio.hpp — the whole public API.
#pragma once

#include "ptio/checkpoint.hpp"
#include "ptio/device.hpp"
#include "ptio/dlpack.hpp"
#include "ptio/dtype.hpp"
#include "ptio/error.hpp"
#include "ptio/limits.hpp"
#include "ptio/load.hpp"
#include "ptio/map_location.hpp"
#include "ptio/save.hpp"
#include "ptio/stager.hpp"
#include "ptio/tensor.hpp"
#include "ptio/tree.hpp"
#include "ptio/value.hpp"
#include "ptio/version.hpp"
