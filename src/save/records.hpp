// records — a tree as torch.save's archive: data.pkl, the format records and every storage
// under data/<n>, handed to a zip writer over any sink (a file, a buffer).
//
// Each storage's bytes are taken from their source as the record is written: a checkpoint's
// mapping, the caller's buffer, or a storage_reader filling one host buffer that is reused
// from storage to storage. Not thread-safe per sink. Failure: what pickling the tree throws
// (tree_pickler.hpp), what a storage_reader throws, and the sink's errors.
#pragma once

#include <string>

#include "ptio/save.hpp"
#include "zip/writer.hpp"

namespace ptio::detail {

/// Write the whole archive of `root` to `out` under the top folder `prefix`.
save_stats write_archive(const tree& root, zip::sink& out, std::string prefix, const save_options& o);

}  // namespace ptio::detail
