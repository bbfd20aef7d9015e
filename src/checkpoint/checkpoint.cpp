#include "ptio/checkpoint.hpp"

#include <bit>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "checkpoint/checkpoint_access.hpp"
#include "core/text.hpp"
#include "io/mapped_file.hpp"
#include "pickle/machine.hpp"
#include "checkpoint/sharded.hpp"
#include "checkpoint/state_dict.hpp"
#include "checkpoint/tensor_lister.hpp"
#include "torch/legacy.hpp"
#include "torch/rebuild.hpp"
#include "torch/storage.hpp"
#include "zip/archive.hpp"

namespace ptio {

struct checkpoint::impl {
    std::string file;
    open_options options;
    detail::mapped_file map;
    std::unique_ptr<detail::zip::archive> zip;
    detail::arena nodes;
    std::deque<detail::storage> storages;
    std::deque<tensor> tensor_store;
    value root;
    std::vector<named_tensor> named;
    // Built on first use (many callers never look a name up): views named[i].name.
    mutable std::once_flag by_name_once;
    mutable std::unordered_map<std::string_view, std::size_t> by_name;
    std::deque<std::vector<std::byte>> pickle_copies;  // inflated pickles, for as long as the tree
    std::string pickle_record;  // names the pickle in errors found after open
    mutable std::once_flag state_dict_once;
    mutable std::vector<named_tensor> state_dict;
    mutable std::once_flag by_state_name_once;  // find()'s second chance: state_dict() names
    mutable std::unordered_map<std::string_view, std::size_t> by_state_name;
    std::string byteorder = "little";
    std::string format = "zip";  // what format() reports
    mutable std::once_flag records_once;
    mutable std::vector<record_info> records;
    std::unique_ptr<detail::shard_set> shards;  // a Hugging Face index (format "sharded")
};

namespace {

using detail::arena;

bool starts_with(std::span<const std::byte> b, std::string_view s) {
    return b.size() >= s.size() && std::memcmp(b.data(), s.data(), s.size()) == 0;
}

// Not a zip: name what the bytes are, so the user knows what went wrong.
[[noreturn]] void refuse(errc code, const std::string& file, const std::string& why) {
    throw error(code, file, {}, 0, why);
}

[[noreturn]] void refuse_non_zip(const std::string& file, std::span<const std::byte> b) {
    auto fail = [&](errc code, const std::string& why) { refuse(code, file, why); };
    if (b.empty()) fail(errc::not_a_checkpoint, "the file is empty");
    if (starts_with(b, "version https://git-lfs"))
        fail(errc::not_a_checkpoint,
             "this is a Git LFS pointer, not the checkpoint: fetch the real file (git lfs pull)");
    std::size_t ws = 0;
    while (ws < b.size() && ws < 512 && std::isspace(static_cast<unsigned char>(b[ws]))) ++ws;
    std::string head;
    for (std::size_t i = ws; i < b.size() && i < ws + 15; ++i)
        head += static_cast<char>(std::tolower(static_cast<unsigned char>(b[i])));
    if (head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<?xml"))
        fail(errc::not_a_checkpoint,
             "this is an HTML or XML page, not a checkpoint (a download that returned a web page?)");
    if (starts_with(b, "PYTORCH1"))
        fail(errc::unsupported_format,
             "a pre-release PyTorch 1.0 container ('PYTORCH1'), which torch.load refuses too");
    if (b.size() >= 8 && std::memcmp(b.data() + 4, "PTMF", 4) == 0)
        fail(errc::unsupported_format, "a mobile flatbuffer module (.ptl), not a torch.save file");
    if (b.size() >= 9 && b[8] == std::byte{'{'})
        fail(errc::not_a_checkpoint, "this looks like a safetensors file, not a torch.save file");
    refuse(errc::not_a_checkpoint, file,
           "not a torch.save file: it does not start with a zip header (first bytes: " + detail::text::hex_prefix(b) + ")");
}

std::string small_record(const detail::zip::archive& z, const detail::zip::entry& e) {
    if (e.size > 4096)
        throw error(errc::bad_zip, z.filename(), e.name, e.header_offset,
                    "a marker record of " + std::to_string(e.size) + " bytes (expected a few)");
    auto bytes = z.extract(e);
    std::string s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
}

// Depth-first walk that names tensors by their tree paths; the
// lister keeps the path, stops at cycles and holds the budget. It also turns a storage saved on
// its own into a tensor, in place.
class namer {
public:
    namer(checkpoint::impl& ck, detail::torch::rebuilder& rb, std::string record)
        : rb_(rb), nodes_(ck.nodes), list_(ck.named, ck.file, std::move(record), ck.nodes.size(),
                         ck.options.caps.max_depth) {}

    /// Walks `slot` as if it were reached by `path` (the constants: CONSTANTS.c0, …).
    void walk_under(const std::vector<std::string>& path, value& slot) {
        for (const auto& part : path) list_.push(part);
        walk(slot, 0);
        for (std::size_t i = 0; i < path.size(); ++i) list_.pop();
    }

    void walk(value& slot, std::size_t depth) {
        list_.check_depth(depth);
        switch (slot.type()) {
            case kind::tensor: list_.add(slot.as_tensor()); return;
            case kind::list: case kind::tuple: case kind::set: {
                if (!list_.enter(detail::node_of(slot))) return;
                detail::tensor_lister::scope guard{list_, detail::node_of(slot)};
                walk_items(nodes_.mut(slot).items, depth);
                return;
            }
            case kind::dict: {
                if (!list_.enter(detail::node_of(slot))) return;
                detail::tensor_lister::scope guard{list_, detail::node_of(slot)};
                walk_entries(nodes_.mut(slot).entries, depth);
                return;
            }
            case kind::object: {
                auto& n = nodes_.mut(slot);
                if (n.tag == detail::known::numpy_array && n.state.is(kind::tensor)) {  // its elements
                    slot = n.state;
                    list_.add(slot.as_tensor());
                    return;
                }
                if (n.tag == detail::known::storage_ref) {  // a storage saved on its own
                    slot = rb_.storage_tensor(slot);
                    list_.add(slot.as_tensor());
                    return;
                }
                if (!list_.enter(detail::node_of(slot))) return;
                detail::tensor_lister::scope guard{list_, detail::node_of(slot)};
                if (!n.args.is_none()) {
                    list_.push("__args__");
                    walk(n.args, depth + 1);
                    list_.pop();
                }
                walk(n.state, depth + 1);
                walk_items(n.items, depth);
                walk_entries(n.entries, depth);
                return;
            }
            default: return;
        }
    }

private:
    void walk_items(std::vector<value>& items, std::size_t depth) {
        for (std::size_t i = 0; i < items.size(); ++i) {
            list_.push(std::to_string(i));
            walk(items[i], depth + 1);
            list_.pop();
        }
    }
    void walk_entries(std::vector<value::entry>& entries, std::size_t depth) {
        for (auto& [k, v] : entries) {
            list_.push(key_text(k));
            walk(v, depth + 1);
            list_.pop();
        }
    }

    detail::torch::rebuilder& rb_;
    detail::arena& nodes_;  // the tree's owner: replacing a slot changes its container
    detail::tensor_lister list_;
};

// Unpickles one pickle record (data.pkl, constants.pkl) whose storages live under
// record_dir, then names its tensors with `name`. Nodes, storages and tensors go into ck;
// each record gets its own rebuilder, as keys restart in each tensor folder.
template <class Name>
value unpickle(checkpoint::impl& ck, const detail::zip::entry& pkl, std::string record_dir,
               bool swap, Name&& name) {
    const auto& z = *ck.zip;
    if (pkl.size > ck.options.caps.max_pickle_bytes)
        throw error(errc::limit_exceeded, ck.file, pkl.name, pkl.header_offset,
                    std::string(z.relative_name(pkl)) + " is " + std::to_string(pkl.size) +
                        " bytes, over the cap of " + std::to_string(ck.options.caps.max_pickle_bytes));
    std::span<const std::byte> pickle_bytes;
    std::vector<std::byte>& copy = ck.pickle_copies.emplace_back();  // when deflated; large
                                                                      // bytes nodes view it
    const std::uint64_t pickle_base = pkl.method == 0 ? z.payload_offset(pkl) : 0;
    if (pkl.method == 0) {
        pickle_bytes = z.stored(pkl);
    } else {
        copy = z.extract(pkl);
        pickle_bytes = copy;
    }
    if (ck.options.verify_crc) z.check_crc(pkl, pickle_bytes);

    detail::torch::rebuild_context ctx;
    ctx.archive = &z;
    ctx.file = &ck.map;
    ctx.record_dir = std::move(record_dir);
    ctx.where = {ck.file, pkl.name, pickle_base};
    ctx.options = ck.options;
    ctx.swap_bytes = swap;
    detail::torch::rebuilder rb(ctx, ck.nodes, ck.storages, ck.tensor_store);
    detail::cursor c(pickle_bytes, {ck.file, pkl.name, pickle_base});
    value root = detail::pickle::run(c, ck.nodes, rb, ck.options.caps).root;
    namer walker(ck, rb, pkl.name);
    name(walker, root);
    return root;
}

void open_zip(checkpoint::impl& ck) {
    const auto bytes = ck.map.bytes();
    ck.zip = std::make_unique<detail::zip::archive>(bytes, ck.file, ck.options.caps.max_records);
    auto& z = *ck.zip;

    const auto* pkl = z.find("data.pkl");
    if (!pkl) {
        if (z.find("model.json"))
            throw error(errc::unsupported_format, ck.file, {}, std::nullopt,
                        "a TorchScript archive from torch < 1.3 (model.json, no data.pkl), which "
                        "torch >= 1.13 cannot read either (torch.jit.load: \"Legacy model format "
                        "is not supported on mobile\")");
        if (z.find(".data/extern_modules"))
            throw error(errc::unsupported_format, ck.file, {}, std::nullopt,
                        "a torch.package archive, which torch.load does not read either");
        throw error(errc::missing_record, ck.file, std::string(z.prefix()) + "/data.pkl",
                    std::nullopt, "the archive has no data.pkl record: not a torch.save file");
    }
    // torch.load tells TorchScript by constants.pkl; a mobile .ptl always has
    // one too, bytecode.pkl is checked only so a stripped one still reads as TorchScript.
    const auto* constants = z.find("constants.pkl");
    if (constants || z.find("bytecode.pkl")) ck.format = "torchscript";

    if (const auto* bo = z.find("byteorder")) {
        ck.byteorder = small_record(z, *bo);
        if (ck.byteorder != "little" && ck.byteorder != "big")
            throw error(errc::bad_zip, ck.file, bo->name, bo->header_offset,
                        "the byteorder record says '" + ck.byteorder + "', not little or big");
    }
    const bool host_little = std::endian::native == std::endian::little;
    const bool swap = (ck.byteorder == "little") != host_little;

    // data.pkl: the saved object, or a TorchScript module whose attribute names (its BUILD
    // state) name the tensors as state_dict() does: "fc.weight", "layers.0.bias".
    ck.pickle_record = pkl->name;
    ck.root = unpickle(ck, *pkl, "data/", swap, [&](namer& n, value& root) { n.walk(root, 0); });
    if (!constants) return;
    // constants.pkl: the tuple the code's CONSTANTS.c0, c1, … index, storages in constants/.
    (void)unpickle(ck, *constants, "constants/", swap, [&](namer& n, value& root) {
        if (!root.is(kind::tuple))
            throw error(errc::bad_pickle, ck.file, constants->name, std::nullopt,
                        "constants.pkl holds a " + std::string(to_string(root.type())) +
                            ", not the tuple torch.jit.load needs");
        auto& items = ck.nodes.mut(root).items;
        for (std::size_t i = 0; i < items.size(); ++i) {
            std::string ci = "c";  // not "c" + to_string(i): GCC 12 -O3 warns -Wrestrict on it
            ci += std::to_string(i);
            n.walk_under({"CONSTANTS", std::move(ci)}, items[i]);
        }
    });
}

// The formats before the zip archive: storages are spans of the file.
void open_pre_zip(checkpoint::impl& ck, detail::torch::id_style ids) {
    using detail::torch::id_style;
    ck.format = ids == id_style::legacy ? "legacy" : "tar";
    detail::torch::rebuild_context ctx;
    ctx.ids = ids;
    ctx.file = &ck.map;
    ctx.where = {ck.file, "pickle", 0};
    ctx.options = ck.options;
    ctx.swap_bytes = std::endian::native != std::endian::little;  // blobs are little-endian
    detail::torch::rebuilder rb(ctx, ck.nodes, ck.storages, ck.tensor_store);
    const auto bytes = ck.map.bytes();
    ck.root = ids == id_style::legacy ? detail::torch::read_legacy(bytes, rb, ck.nodes, ck.options.caps)
                                      : detail::torch::read_tar(bytes, rb, ck.nodes, ck.options.caps);
    ck.pickle_record = "pickle";
    namer(ck, rb, ck.pickle_record).walk(ck.root, 0);
}

}  // namespace

checkpoint::checkpoint(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
checkpoint::checkpoint(checkpoint&&) noexcept = default;
checkpoint& checkpoint::operator=(checkpoint&&) noexcept = default;
checkpoint::~checkpoint() = default;

namespace {
void finish_checked(checkpoint::impl& ck);

// Allocation failures caused by a file (a huge claimed size, a bomb of small objects) are
// reported as the file's problem, not as std::bad_alloc.
checkpoint::impl& finish(checkpoint::impl& ck) {
    try {
        finish_checked(ck);
    } catch (const std::bad_alloc&) {
        throw error(errc::limit_exceeded, ck.file, {}, std::nullopt, "out of memory while opening");
    }
    return ck;
}

void finish_checked(checkpoint::impl& ck) {
    // Metadata reads jump around; keep the kernel from reading ahead into storage pages.
    // This must come before the first byte is touched: a fault with default advice reads
    // ahead as far as the device's read_ahead_kb (megabytes on some disks).
    ck.map.advise(detail::mapped_file::advice::random);
    const auto bytes = ck.map.bytes();
    if (detail::zip::looks_like_zip(bytes)) open_zip(ck);
    else if (detail::torch::looks_like_tar(bytes)) open_pre_zip(ck, detail::torch::id_style::tar);
    else if (detail::torch::looks_like_legacy(bytes)) open_pre_zip(ck, detail::torch::id_style::legacy);
    else refuse_non_zip(ck.file, bytes);
    ck.map.advise(detail::mapped_file::advice::normal);
}
}  // namespace

checkpoint checkpoint::open(const std::filesystem::path& path, const open_options& options) {
    auto p = std::make_unique<impl>();
    if (detail::shard_set::is_index(path)) {
        p->shards = std::make_unique<detail::shard_set>(detail::shard_set::index_of(path), options);
        p->file = p->shards->index_file();
        p->options = options;
        p->format = "sharded";
        return checkpoint(std::move(p));
    }
    p->file = path.string();
    p->options = options;
    p->map = detail::mapped_file::map(path, options.copy_on_write
                                                ? detail::mapped_file::mode::copy_on_write
                                                : detail::mapped_file::mode::read_only);
    finish(*p);
    return checkpoint(std::move(p));
}

checkpoint checkpoint::open(std::span<const std::byte> bytes, const open_options& options,
                            std::string name) {
    auto p = std::make_unique<impl>();
    p->file = std::move(name);
    p->options = options;
    p->map = detail::mapped_file::borrow(bytes);
    finish(*p);
    return checkpoint(std::move(p));
}

checkpoint checkpoint::open(std::vector<std::byte>&& bytes, const open_options& options,
                            std::string name) {
    auto p = std::make_unique<impl>();
    p->file = std::move(name);
    p->options = options;
    p->map = detail::mapped_file::adopt(std::move(bytes));
    finish(*p);
    return checkpoint(std::move(p));
}

const value& checkpoint::root() const {
    return impl_->shards ? impl_->shards->root() : impl_->root;
}
std::span<const named_tensor> checkpoint::tensors() const {
    if (impl_->shards) return impl_->shards->all();
    return impl_->named;
}

std::span<const named_tensor> checkpoint::state_dict() const {
    if (impl_->shards) return impl_->shards->all();  // a state_dict already, named by its index
    // A failed build (a cap passed) throws and leaves the flag unset, so a later call retries.
    std::call_once(impl_->state_dict_once, [&ck = *impl_] {
        std::vector<named_tensor> out;
        detail::tensor_lister lister(out, ck.file, ck.pickle_record, ck.nodes.size(),
                                     ck.options.caps.max_depth);
        detail::list_state_dict(ck.root, lister);
        ck.state_dict = std::move(out);
    });
    return impl_->state_dict;
}

const named_tensor* checkpoint::find(std::string_view name) const {
    if (impl_->shards) return impl_->shards->find(name);
    std::call_once(impl_->by_name_once, [&ck = *impl_] {
        ck.by_name.reserve(ck.named.size());
        for (std::size_t i = 0; i < ck.named.size(); ++i) ck.by_name.emplace(ck.named[i].name, i);
    });
    if (auto it = impl_->by_name.find(name); it != impl_->by_name.end()) return &impl_->named[it->second];
    // A whole pickled module's tensors are also found by their state_dict() names
    // ("fc.weight" for "_modules.fc._parameters.weight"); built on the first miss.
    const auto sd = state_dict();
    std::call_once(impl_->by_state_name_once, [&ck = *impl_, sd] {
        ck.by_state_name.reserve(sd.size());
        for (std::size_t i = 0; i < sd.size(); ++i) ck.by_state_name.emplace(sd[i].name, i);
    });
    auto it = impl_->by_state_name.find(name);
    return it == impl_->by_state_name.end() ? nullptr : &impl_->state_dict[it->second];
}

const tensor& checkpoint::at(std::string_view name) const {
    if (const auto* t = find(name)) return *t->tensor;
    throw error(errc::not_found, impl_->file, {}, std::nullopt,
                "no tensor named '" + std::string(name) + "'");
}

const std::string& checkpoint::file() const noexcept { return impl_->file; }
std::string_view checkpoint::format() const noexcept { return impl_->format; }
std::string_view checkpoint::byteorder() const noexcept { return impl_->byteorder; }
std::string_view checkpoint::prefix() const noexcept {
    return impl_->zip ? impl_->zip->prefix() : std::string_view();
}
std::vector<std::string> checkpoint::shard_files() const {
    return impl_->shards ? impl_->shards->files() : std::vector<std::string>{};
}
std::string_view checkpoint::shard_of(std::string_view name) const noexcept {
    return impl_->shards ? impl_->shards->file_of(name) : std::string_view();
}
std::span<const record_info> checkpoint::records() const {
    std::call_once(impl_->records_once, [&ck = *impl_] {
        if (!ck.zip) return;  // legacy and tar have none; each shard has its own
        const auto& z = *ck.zip;
        ck.records.reserve(z.entries().size());
        for (const auto& e : z.entries())
            ck.records.push_back({std::string(z.relative_name(e)), e.header_offset, e.size,
                                  e.compressed_size, e.method, e.crc32});
    });
    return impl_->records;
}

namespace {
constexpr std::string_view extra_dir = "extra/";
}

std::vector<std::string> checkpoint::extra_files() const {
    std::vector<std::string> names;
    if (!impl_->zip) return names;  // only zip archives carry extra files
    const auto& z = *impl_->zip;
    for (const auto& e : z.entries()) {
        const auto rel = z.relative_name(e);
        if (rel.size() > extra_dir.size() && rel.starts_with(extra_dir))
            names.emplace_back(rel.substr(extra_dir.size()));
    }
    return names;
}

std::vector<std::byte> checkpoint::extra_file(std::string_view name) const {
    const detail::zip::entry* e = nullptr;
    if (impl_->zip && !name.empty()) e = impl_->zip->find(std::string(extra_dir) + std::string(name));
    if (e == nullptr)
        throw error(errc::not_found, impl_->file, {}, std::nullopt,
                    "no extra file named '" + std::string(name) + "'");
    auto bytes = impl_->zip->extract(*e);
    impl_->zip->check_crc(*e, bytes);  // small, and read whole anyway: always checked, as torch does
    return bytes;
}

std::size_t checkpoint::verify(const std::function<void(const error&)>& problem) const {
    if (impl_->shards) return impl_->shards->verify(problem);
    std::size_t count = 0;
    auto report = [&](const error& e) {
        ++count;
        if (problem) problem(e);
    };
    if (!impl_->zip) {
        // The legacy and tar formats have no CRCs; what open deferred is each legacy blob's
        // element count, read here without touching the blob's bytes.
        for (const auto& s : impl_->storages) {
            try {
                bool in_file = false;
                (void)s.copy_source(in_file);
            } catch (const error& err) {
                report(err);
            }
        }
        return count;
    }
    const auto& z = *impl_->zip;
    for (const auto& e : z.entries()) {
        try {
            if (e.method == 0) z.check_crc(e, z.stored(e));
            else z.check_crc(e, z.extract(e));
        } catch (const error& err) {
            report(err);
        } catch (const std::bad_alloc&) {
            report(error(errc::limit_exceeded, impl_->file, e.name, e.header_offset,
                         "out of memory reading the record"));
        }
    }
    return count;
}

}  // namespace ptio

namespace ptio::detail {

// A sharded checkpoint's shards are all mapped files, opened with its options.
bool checkpoint_access::maps_file_read_only(const checkpoint& ck) noexcept {
    return (ck.impl_->shards || ck.impl_->map.is_mapping()) && !ck.impl_->options.copy_on_write;
}

bool checkpoint_access::is_copy_on_write(const checkpoint& ck) noexcept {
    return (ck.impl_->shards || ck.impl_->map.is_mapping()) && ck.impl_->options.copy_on_write;
}

}  // namespace ptio::detail
