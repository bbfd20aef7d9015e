// The zip layout: torch.save ≥ 1.6 (data.pkl, storages under data/) and TorchScript
// (data.pkl is the module, constants.pkl the code's constants, storages under constants/).
#include <bit>
#include <cctype>

#include "checkpoint/file_source.hpp"
#include "checkpoint/namer.hpp"
#include "io/cursor.hpp"
#include "pickle/budget.hpp"
#include "pickle/machine.hpp"

namespace ptio::detail {

namespace {

// A record of a few bytes (byteorder), as text without its trailing white space.
std::string small_record(const zip::archive& z, const zip::entry& e) {
    if (e.size > 4096)
        throw error(errc::bad_zip, z.filename(), std::string(e.name), e.header_offset,
                    "a marker record of " + std::to_string(e.size) + " bytes (expected a few)");
    auto bytes = z.extract(e);
    std::string s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
}

}  // namespace

// Each record gets its own rebuilder, as keys restart in each tensor folder.
void charge_inflated(arena& costs, const zip::archive& z, const zip::entry& pkl, const std::string& file) {
    z.check_inflatable(pkl);  // a size deflate cannot reach is the zip's error, not a cap's
    try {
        costs.charge(pkl.size);
    } catch (const over_budget& e) {
        throw error(errc::limit_exceeded, file, std::string(pkl.name), pkl.header_offset,
                    "inflating it (" + std::to_string(pkl.size) + " bytes from " +
                        std::to_string(pkl.compressed_size) + "): " + e.detail());
    }
}

value file_source::unpickle(const zip::entry& pkl, std::string record_dir, bool swap,
                            const std::function<void(namer&, value&)>& name) {
    const auto& z = *zip_;
    const limits& caps = options().caps;
    if (pkl.size > caps.max_pickle_bytes)
        throw error(errc::limit_exceeded, file_, std::string(pkl.name), pkl.header_offset,
                    std::string(z.relative_name(pkl)) + " is " + std::to_string(pkl.size) +
                        " bytes, over the cap of " + std::to_string(caps.max_pickle_bytes));
    // The tree may cost what the pickles take in the file times a ratio (pickle/budget);
    // a deflated pickle's inflated copy is part of that cost, charged before it is made.
    pickle_file_bytes_ += pkl.compressed_size;
    nodes_.set_budget(pickle::budget_for(caps, file_, pickle_file_bytes_));
    if (pkl.method != 0) {
        charge_inflated(nodes_, z, pkl, file_);
    }
    std::span<const std::byte> pickle_bytes;
    std::vector<std::byte>& copy = pickle_copies_.emplace_back();  // when deflated; large
                                                                   // bytes nodes view it
    const std::uint64_t pickle_base = pkl.method == 0 ? z.payload_offset(pkl) : 0;
    if (pkl.method == 0) {
        pickle_bytes = z.stored(pkl);
    } else {
        copy = z.extract(pkl);
        pickle_bytes = copy;
    }
    if (options().verify_crc) z.check_crc(pkl, pickle_bytes);

    torch::rebuild_context ctx;
    ctx.archive = &z;
    ctx.file = &map_;
    ctx.record_dir = std::move(record_dir);
    ctx.where = {file_, pkl.name, pickle_base};
    ctx.options = options();
    ctx.swap_bytes = swap;
    torch::rebuilder rb(ctx, nodes_, storages_, tensor_store_, location_texts_);
    nodes_.view_pickle(pkl.method != 0);  // an inflated copy lives as long as the tree
    cursor c(pickle_bytes, {file_, pkl.name, pickle_base});
    value root = pickle::run(c, nodes_, rb, caps).root;
    keep_globals(rb);
    namer walker = namer_for(rb, std::string(pkl.name));
    name(walker, root);
    return root;
}

void file_source::open_zip() {
    zip_ = std::make_unique<zip::archive>(map_.bytes(), file_, options().caps.max_records);
    zip_->set_mapping(&map_);
    auto& z = *zip_;

    const auto* pkl = z.find("data.pkl");
    if (!pkl) {
        if (z.find("model.json"))
            throw error(errc::unsupported_format, file_, {}, std::nullopt,
                        "a TorchScript archive from torch < 1.3 (model.json, no data.pkl), which "
                        "torch >= 1.13 cannot read either (torch.jit.load: \"Legacy model format "
                        "is not supported on mobile\")");
        if (z.find(".data/extern_modules"))
            throw error(errc::unsupported_format, file_, {}, std::nullopt,
                        "a torch.package archive, which torch.load does not read either");
        throw error(errc::missing_record, file_, std::string(z.prefix()) + "/data.pkl",
                    std::nullopt, "the archive has no data.pkl record: not a torch.save file");
    }
    // torch.load tells TorchScript by constants.pkl; a mobile .ptl always has
    // one too, bytecode.pkl is checked only so a stripped one still reads as TorchScript.
    const auto* constants = z.find("constants.pkl");
    if (constants || z.find("bytecode.pkl")) format_ = "torchscript";

    if (const auto* bo = z.find("byteorder")) {
        byteorder_ = small_record(z, *bo);
        if (byteorder_ != "little" && byteorder_ != "big")
            throw error(errc::bad_zip, file_, std::string(bo->name), bo->header_offset,
                        "the byteorder record says '" + byteorder_ + "', not little or big");
    }
    const bool host_little = std::endian::native == std::endian::little;
    const bool swap = (byteorder_ == "little") != host_little;

    // data.pkl: the saved object, or a TorchScript module whose attribute names (its BUILD
    // state) name the tensors as state_dict() does: "fc.weight", "layers.0.bias".
    pickle_record_ = pkl->name;
    root_ = unpickle(*pkl, "data/", swap, [](namer& n, value& root) { n.walk(root, 0); });
    if (!constants) return;
    // constants.pkl: the tuple the code's CONSTANTS.c0, c1, … index, storages in constants/.
    (void)unpickle(*constants, "constants/", swap, [&](namer& n, value& root) {
        if (!root.is(kind::tuple))
            throw error(errc::bad_pickle, file_, std::string(constants->name), std::nullopt,
                        "constants.pkl holds a " + std::string(to_string(root.type())) +
                            ", not the tuple torch.jit.load needs");
        auto& items = nodes_.mut(root).items;
        for (std::size_t i = 0; i < items.size(); ++i) {
            std::string ci = "c";  // not "c" + to_string(i): GCC 12 -O3 warns -Wrestrict on it
            ci += std::to_string(i);
            n.walk_under({"CONSTANTS", std::move(ci)}, items[i]);
        }
    });
}

}  // namespace ptio::detail
