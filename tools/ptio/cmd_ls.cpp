// tools/ptio/cmd_ls.cpp — `ptio ls FILE [--json] [--hash] [--state-dict]`: every tensor of a
// checkpoint.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cli.hpp"
#include "hash_budget.hpp"
#include "globals_report.hpp"
#include "json_output.hpp"
#include "open_flags.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/dtype.hpp"
#include "ptio/tensor.hpp"
#include "pyformat.hpp"
#include "sha256.hpp"
#include "text.hpp"

namespace ptio_cli {

namespace {

constexpr help_text help{
    .name = "ls",
    .summary = "list every tensor: name, dtype, shape (and SHA-256)",
    .synopsis = "usage: ptio ls FILE [--json] [--hash [--max-hash-bytes N]] [--state-dict] [-j N]",
    .description = R"(
List every tensor of a checkpoint, depth-first in pickle order: name, dtype and shape.
A tensor's name is its path of keys from the root joined with '.'; a tensor saved
at the root is shown as (root). In a TorchScript archive the path is the module's
attribute path, as state_dict() names it (layers.0.weight), and the tensors the code
holds as constants follow as CONSTANTS.c0, CONSTANTS.c1, ... FILE may be a Hugging Face
index (*.index.json) or a directory holding one: the shards are listed as one
checkpoint, in the index's order, and "storage" is "SHARD:KEY".
)",
    .column = 16,
};

struct ls_args {
    std::vector<std::string> operands;
    bool json = false;
    open_flags open;
    bool hash = false;
    bool state_dict = false;
    std::optional<std::string> jobs;
    std::optional<std::string> max_hash_bytes;
};

// Per listed tensor: its digest (nullopt: no data, or refused) and why it was refused.
struct hash_results {
    std::vector<std::optional<std::string>> sha256;
    std::vector<std::optional<std::string>> refused;
};

// One digest per listed tensor. A tensor object listed under several names is hashed once;
// what may be hashed at all is decided first (hash_budget.hpp). The largest tensors go first
// so the threads finish together. The first failure stops the threads; of the failures
// caught, the earliest-listed tensor's is rethrown.
hash_results hash_all(const ptio::checkpoint& ck, std::span<const ptio::named_tensor> listed,
                 unsigned jobs, std::uint64_t max_hash_bytes) {
    std::vector<const ptio::tensor*> unique;
    std::vector<hash_candidate> candidates;
    std::vector<std::size_t> slot_of(listed.size());
    std::unordered_map<const ptio::tensor*, std::size_t> slots;
    for (std::size_t i = 0; i < listed.size(); ++i) {
        const auto [it, added] = slots.try_emplace(listed[i].tensor, unique.size());
        if (added) {
            unique.push_back(listed[i].tensor);
            candidates.push_back({listed[i].tensor, std::string(ck.shard_of(listed[i].name)) + ":" +
                                                        std::string(listed[i].tensor->view().storage_key())});
        }
        slot_of[i] = it->second;
    }
    const auto refused = plan_hashes(candidates, max_hash_bytes);
    std::vector<std::size_t> order(unique.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return unique[a]->view().nbytes() > unique[b]->view().nbytes();
    });

    std::vector<std::optional<std::string>> digests(unique.size());
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::exception_ptr error;
    std::size_t error_slot = unique.size();
    const auto work = [&] {
        for (std::size_t i; !failed && (i = next++) < order.size();) {
            const std::size_t slot = order[i];
            const ptio::tensor& tensor = *unique[slot];
            const ptio::tensor_view& view = tensor.view();
            if (!view.has_data() || refused[slot]) continue;
            try {
                digests[slot] = tensor.is_conj() || tensor.is_neg() ? resolved_sha256(tensor)
                                                                    : tensor_sha256(view);
            } catch (...) {
                const std::lock_guard lock(error_mutex);
                if (slot < error_slot) {
                    error = std::current_exception();
                    error_slot = slot;
                }
                failed = true;
            }
        }
    };
    {
        std::vector<std::jthread> threads;
        const auto count = std::min<std::size_t>(jobs, unique.size());
        for (std::size_t t = 1; t < count; ++t) threads.emplace_back(work);
        work();
    }
    if (error) std::rethrow_exception(error);

    hash_results out{std::vector<std::optional<std::string>>(listed.size()),
                       std::vector<std::optional<std::string>>(listed.size())};
    for (std::size_t i = 0; i < listed.size(); ++i) {
        out.sha256[i] = digests[slot_of[i]];
        out.refused[i] = refused[slot_of[i]];
    }
    return out;
}

// A refused digest is not an error: the listing is whole, and stderr says what is missing.
void warn_refused(std::span<const ptio::named_tensor> listed, const hash_results& d) {
    std::string text;
    for (std::size_t i = 0; i < listed.size(); ++i)
        if (d.refused[i])
            text += "ptio: warning: " + std::string(listed[i].name.empty() ? std::string_view("(root)") : listed[i].name) +
                    ": " + *d.refused[i] + "\n";
    if (!text.empty()) std::fwrite(text.data(), 1, text.size(), stderr);
}

void print_json(const ptio::checkpoint& ck, std::string_view file,
                std::span<const ptio::named_tensor> listed,
                const hash_results* hashes) {
    output out;
    json_writer w(out);
    w.begin_object().key("file").value(file).key("format").value(ck.format());
    w.key("byteorder").value(ck.byteorder()).key("tensors").begin_array(true);
    // Each row is written as it is read, no json built: `ls --json` costs about its open.
    std::string storage;
    for (std::size_t i = 0; i < listed.size(); ++i) {
        const ptio::named_tensor& named = listed[i];
        const ptio::tensor& t = *named.tensor;
        const ptio::tensor_view& view = t.view();
        w.begin_object().key("path").begin_array();
        for (const std::string_view key : named.path) w.string(key);
        w.end().key("name").string(named.name).key("dtype").string(ptio::name(view.dtype()));
        w.key("shape").numbers(view.shape()).key("stride").numbers(view.strides());
        w.key("storage_offset").number(view.storage_offset());
        // Storage keys restart in each shard: prefix the shard's file name.
        if (const std::string_view shard = ck.shard_of(named.name); !shard.empty()) {
            storage = std::filesystem::path(shard).filename().string();
            storage += ':';
            storage += view.storage_key();
            w.key("storage").string(storage);
        } else {
            w.key("storage").string(view.storage_key());
        }
        w.key("location").string(t.location()).key("nbytes").number(view.nbytes());
        w.key("requires_grad").boolean(t.requires_grad());
        // Lazy conjugate / negative views of torch >= 2.0 (absent when false).
        if (t.is_conj()) w.key("conj").boolean(true);
        if (t.is_neg()) w.key("neg").boolean(true);
        if (t.is_numpy()) w.key("numpy").boolean(true);  // an np.ndarray or scalar in the file
        if (t.is_storage()) w.key("bare_storage").boolean(true);  // a storage saved on its own
        if (hashes != nullptr) {
            w.key("sha256");
            if (hashes->sha256[i])
                w.string(*hashes->sha256[i]);
            else
                w.null();
            if (hashes->refused[i]) w.key("sha256_refused").string(*hashes->refused[i]);
        }
        w.end();
    }
    w.end();
    if (const auto extra = ck.extra_files(); !extra.empty())  // TorchScript _extra_files
        w.key("extra_files").value(extra);
    w.key("globals").value(globals_json(ck.globals(), ck.format() == "sharded"));
    w.end();
}

// What a text row says after its columns about a row that is not a plain tensor: a storage
// saved on its own (torch.load gives a TypedStorage, not a tensor), a tensor without data (a
// meta tensor: no bytes in the file), or both.
std::string_view row_note(const ptio::tensor& t) {
    const bool data = t.view().has_data();
    if (t.is_storage()) return data ? "storage" : "storage, no data";
    return data ? "" : "no data";
}

// Two passes: the column widths, then the lines. The escaped names are kept in one buffer
// (a name a tensor, ends[i] its end) and each shape is formatted again where it is printed,
// so a listing costs no allocation per line.
void print_text(std::span<const ptio::named_tensor> listed,
                const hash_results* hashes) {
    std::string names;
    std::vector<std::size_t> ends(listed.size());
    std::string shape;
    std::size_t name_width = 0;
    std::size_t dtype_width = 0;
    std::size_t shape_width = 0;
    for (std::size_t i = 0; i < listed.size(); ++i) {
        const std::size_t start = names.size();
        if (listed[i].name.empty() && listed[i].path.empty())
            names += "(root)";
        else
            append_escaped_name(names, listed[i].name);
        ends[i] = names.size();
        // A column each code point.
        name_width = std::max(name_width, utf8::code_points(std::string_view(names).substr(start)));
        dtype_width = std::max(dtype_width, ptio::name(listed[i].tensor->dtype()).size());
        shape.clear();
        append_shape(shape, listed[i].tensor->shape());
        shape_width = std::max(shape_width, shape.size());
    }
    output out;
    std::string& s = out.text();
    for (std::size_t i = 0; i < listed.size(); ++i) {
        const std::size_t start = i == 0 ? 0 : ends[i - 1];
        const std::string_view name = std::string_view(names).substr(start, ends[i] - start);
        s += name;
        s.append(name_width - utf8::code_points(name) + 2, ' ');
        const std::string_view dtype = ptio::name(listed[i].tensor->dtype());
        s += dtype;
        s.append(dtype_width - dtype.size() + 2, ' ');
        const std::size_t shape_start = s.size();
        append_shape(s, listed[i].tensor->shape());
        const std::string_view note = row_note(*listed[i].tensor);
        if (hashes != nullptr || !note.empty())
            s.append(shape_width - (s.size() - shape_start) + 2, ' ');
        if (hashes != nullptr) {
            s += hashes->sha256[i] ? std::string_view(*hashes->sha256[i]) : std::string_view("-");
            if (!note.empty()) s += "  ";
        }
        s += note;
        s += '\n';
        out.maybe_flush();
    }
}

int run(const ls_args& args) {
    const std::string& file = single_file(args.operands);
    const auto jobs = static_cast<unsigned>(number_option(
        args.jobs, "jobs", 1, 256, std::clamp(std::thread::hardware_concurrency(), 1U, 8U)));
    const auto max_hash_bytes = number_option(args.max_hash_bytes, "max-hash-bytes", 0, UINT64_MAX,
                                              default_max_hash_bytes);
    const ptio::checkpoint ck = ptio::checkpoint::open(file, open_options_of(args.open));
    warn_globals(ck.globals());
    std::optional<hash_results> hashes;
    const auto listed = args.state_dict ? ck.state_dict() : ck.tensors();
    if (args.hash) hashes = hash_all(ck, listed, jobs, max_hash_bytes);
    const hash_results* hash_list = hashes ? &*hashes : nullptr;
    if (args.json)
        print_json(ck, file, listed, hash_list);
    else
        print_text(listed, hash_list);
    if (hashes) warn_refused(listed, *hashes);
    return 0;
}

}  // namespace

command add_ls_command(CLI::App& ptio) {
    return add_command(ptio, help, run, [](CLI::App& app, ls_args& args) {
        add_flag(app, "--json", args.json,
                 R"(print one JSON object {"file", "format", "byteorder", "tensors": [{"path",
"name", "dtype", "shape", "stride", "storage_offset", "storage",
"location", "nbytes", "requires_grad", "numpy"?, "bare_storage"?, "sha256"?, "sha256_refused"?}],
"extra_files"?: [names], "globals": [{"module", "name", "record", "offset", "verdict",
"weights_only"}]} ("extra_files" when the archive has any: see ptio extra; "sha256_refused",
with "sha256" null, when --max-hash-bytes refused the digest))");
        add_flag(app, "--hash", args.hash,
                 R"(add the SHA-256 of each tensor's elements in row-major order, each
element's little-endian bytes (the elements a view shows, not its
storage); "-" (null in JSON) for tensors without data or refused: the digests
read at most the bytes the storages hold plus --max-hash-bytes, and a
tensor past that is refused with a warning on stderr)");
        add_value(app, "--max-hash-bytes", args.max_hash_bytes, "N",
                  R"(what --hash may read beyond the storages' own bytes, spent by views
that repeat elements (expand, a stride of 0) in listing order (default
1073741824, 1 GiB; 0: views within their storage only))");
        add_flag(app, "--state-dict", args.state_dict,
                 R"(name tensors as model.state_dict() / optimizer.state_dict() would for
pickled modules and optimizers (torch.save(model)): "fc.weight", not
"_modules.fc._parameters.weight"; non-persistent buffers are left out)");
        add_value(app, "-j,--jobs", args.jobs, "N",
                  "hash on N threads (default: the number of cores, at most 8)");
        add_open_flags(app, args.open);
    });
}

}  // namespace ptio_cli
