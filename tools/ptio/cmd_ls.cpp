// tools/ptio/cmd_ls.cpp — `ptio ls FILE [--json] [--hash] [--state-dict]`: every tensor of a
// checkpoint.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "command.hpp"
#include "json.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/dtype.hpp"
#include "ptio/tensor.hpp"
#include "pyformat.hpp"
#include "sha256.hpp"

namespace ptio_cli {

namespace {

constexpr std::string_view usage = R"(usage: ptio ls FILE [--json] [--hash] [--state-dict] [-j N]

List every tensor of a checkpoint, depth-first in pickle order: name, dtype and shape.
A tensor's name is its path of keys from the root joined with '.'; a tensor saved
at the root is shown as (root). In a TorchScript archive the path is the module's
attribute path, as state_dict() names it (layers.0.weight), and the tensors the code
holds as constants follow as CONSTANTS.c0, CONSTANTS.c1, ... FILE may be a Hugging Face
index (*.index.json) or a directory holding one: the shards are listed as one
checkpoint, in the index's order, and "storage" is "SHARD:KEY".

options:
  --json        print one JSON object {"file", "format", "byteorder", "tensors": [{"path",
                "name", "dtype", "shape", "stride", "storage_offset", "storage",
                "location", "nbytes", "requires_grad", "numpy"?, "sha256"?}], "extra_files"?: [names]}
                ("extra_files" when the archive has any: see ptio extra)
  --hash        add the SHA-256 of each tensor's elements in row-major order, each
                element's little-endian bytes (the elements a view shows, not its
                storage); "-" (null in JSON) for tensors without data
  --state-dict  name tensors as model.state_dict() / optimizer.state_dict() would for
                pickled modules and optimizers (torch.save(model)): "fc.weight", not
                "_modules.fc._parameters.weight"; non-persistent buffers are left out
  -j, --jobs N  hash on N threads (default: the number of cores, at most 8)
  -h, --help    show this help
)";

constexpr option_spec options[] = {
    {"json", '\0', false},
    {"hash", '\0', false},
    {"state-dict", '\0', false},
    {"jobs", 'j', true},
};

unsigned job_count(const parsed_args& args) {
    const auto text = args.value("jobs");
    if (!text) return std::clamp(std::thread::hardware_concurrency(), 1U, 8U);
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc() || end != text->data() + text->size() || n == 0 || n > 256)
        throw usage_error("--jobs needs a number from 1 to 256, not '" + *text + "'");
    return n;
}

// One digest per listed tensor (nullopt: no data). A tensor object listed under several names
// is hashed once. The largest tensors go first so the threads finish together. The first
// failure stops the threads; of the failures caught, the earliest-listed tensor's is rethrown.
std::vector<std::optional<std::string>> hash_all(std::span<const ptio::named_tensor> listed,
                                                 unsigned jobs) {
    std::vector<const ptio::tensor*> unique;
    std::vector<std::size_t> slot_of(listed.size());
    std::unordered_map<const ptio::tensor*, std::size_t> slots;
    for (std::size_t i = 0; i < listed.size(); ++i) {
        const auto [it, added] = slots.try_emplace(listed[i].tensor, unique.size());
        if (added) unique.push_back(listed[i].tensor);
        slot_of[i] = it->second;
    }
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
            if (!view.has_data()) continue;
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

    std::vector<std::optional<std::string>> out(listed.size());
    for (std::size_t i = 0; i < listed.size(); ++i) out[i] = digests[slot_of[i]];
    return out;
}

void print_json(const ptio::checkpoint& ck, std::string_view file,
                std::span<const ptio::named_tensor> listed,
                const std::vector<std::optional<std::string>>* digests) {
    output out;
    json::writer w(out.text());
    w.begin_object().key("file").string(file).key("format").string(ck.format());
    w.key("byteorder").string(ck.byteorder()).key("tensors").begin_array(true);
    for (std::size_t i = 0; i < listed.size(); ++i) {
        const ptio::named_tensor& named = listed[i];
        const ptio::tensor& t = *named.tensor;
        const ptio::tensor_view& view = t.view();
        w.begin_object().key("path").begin_array();
        for (const std::string& key : named.path) w.string(key);
        w.end_array().key("name").string(named.name);
        w.key("dtype").string(ptio::name(view.dtype()));
        w.key("shape").int_array(view.shape()).key("stride").int_array(view.strides());
        w.key("storage_offset").number(view.storage_offset());
        // Storage keys restart in each shard: prefix the shard's file name.
        if (const std::string_view shard = ck.shard_of(named.name); !shard.empty())
            w.key("storage").string(std::filesystem::path(shard).filename().string() + ":" +
                                    std::string(view.storage_key()));
        else
            w.key("storage").string(view.storage_key());
        w.key("location").string(t.location());
        w.key("nbytes").number(view.nbytes()).key("requires_grad").boolean(t.requires_grad());
        // Lazy conjugate / negative views of torch >= 2.0 (absent when false).
        if (t.is_conj()) w.key("conj").boolean(true);
        if (t.is_neg()) w.key("neg").boolean(true);
        if (t.is_numpy()) w.key("numpy").boolean(true);  // an np.ndarray or scalar in the file
        if (digests != nullptr) {
            w.key("sha256");
            if (const auto& digest = (*digests)[i])
                w.string(*digest);
            else
                w.null();
        }
        w.end_object();
        out.maybe_flush();
    }
    w.end_array();
    if (const auto extra = ck.extra_files(); !extra.empty()) {  // TorchScript _extra_files
        w.key("extra_files").begin_array();
        for (const std::string& name : extra) w.string(name);
        w.end_array();
    }
    w.end_object();
    out.text() += '\n';
}

void print_text(std::span<const ptio::named_tensor> listed,
                const std::vector<std::optional<std::string>>* digests) {
    std::vector<std::string> names(listed.size());
    std::vector<std::string> shapes(listed.size());
    std::size_t name_width = 0;
    std::size_t dtype_width = 0;
    std::size_t shape_width = 0;
    for (std::size_t i = 0; i < listed.size(); ++i) {
        if (listed[i].name.empty() && listed[i].path.empty())
            names[i] = "(root)";
        else
            append_escaped_name(names[i], listed[i].name);
        append_shape(shapes[i], listed[i].tensor->shape());
        name_width = std::max(name_width, display_width(names[i]));
        dtype_width = std::max(dtype_width, ptio::name(listed[i].tensor->dtype()).size());
        shape_width = std::max(shape_width, shapes[i].size());
    }
    output out;
    std::string& s = out.text();
    for (std::size_t i = 0; i < listed.size(); ++i) {
        s += names[i];
        s.append(name_width - display_width(names[i]) + 2, ' ');
        const std::string_view dtype = ptio::name(listed[i].tensor->dtype());
        s += dtype;
        s.append(dtype_width - dtype.size() + 2, ' ');
        s += shapes[i];
        if (digests != nullptr) {
            s.append(shape_width - shapes[i].size() + 2, ' ');
            s += (*digests)[i] ? std::string_view(*(*digests)[i]) : std::string_view("-");
        }
        s += '\n';
        out.maybe_flush();
    }
}

int run(const parsed_args& args) {
    const std::string& file = single_file(args);
    const unsigned jobs = job_count(args);
    const ptio::checkpoint ck = ptio::checkpoint::open(file);
    std::optional<std::vector<std::optional<std::string>>> digests;
    const auto listed = args.has("state-dict") ? ck.state_dict() : ck.tensors();
    if (args.has("hash")) digests = hash_all(listed, jobs);
    const auto* digest_list = digests ? &*digests : nullptr;
    if (args.has("json"))
        print_json(ck, file, listed, digest_list);
    else
        print_text(listed, digest_list);
    return 0;
}

}  // namespace

const command& ls_command() {
    static const command c{"ls", "list every tensor: name, dtype, shape (and SHA-256)", usage,
                           options, run};
    return c;
}

}  // namespace ptio_cli
