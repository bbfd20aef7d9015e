// The formats before the zip archive (legacy, tar): storages are spans of the file, whose
// blobs torch wrote little-endian whatever the host.
#include <bit>

#include "checkpoint/file_source.hpp"
#include "checkpoint/namer.hpp"
#include "pickle/budget.hpp"
#include "torch/legacy.hpp"

namespace ptio::detail {

void file_source::open_pre_zip(torch::id_style ids) {
    using torch::id_style;
    format_ = ids == id_style::legacy ? "legacy" : "tar";
    torch::rebuild_context ctx;
    ctx.ids = ids;
    ctx.file = &map_;
    ctx.where = {file_, "pickle", 0};
    ctx.options = options();
    ctx.swap_bytes = std::endian::native != std::endian::little;
    torch::rebuilder rb(ctx, nodes_, storages_, tensor_store_, location_texts_);
    const auto bytes = map_.bytes();
    const limits& caps = options().caps;
    // The pickles lie uncompressed among the storages: the file's size bounds them.
    nodes_.set_budget(pickle::budget_for(caps, file_, bytes.size()));
    root_ = ids == id_style::legacy ? torch::read_legacy(bytes, rb, nodes_, caps)
                                    : torch::read_tar(bytes, rb, nodes_, caps);
    keep_globals(rb);
    pickle_record_ = "pickle";
    namer_for(rb, pickle_record_).walk(root_, 0);
}

}  // namespace ptio::detail
