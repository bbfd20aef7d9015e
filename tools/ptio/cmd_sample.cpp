// tools/ptio/cmd_sample.cpp — `ptio sample FILE [--size-mb N]`: write a model-like state_dict
// with ptio's writer, for demos and benchmarks that need a realistic checkpoint without Python.
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "json_output.hpp"
#include "output.hpp"
#include "ptio/dtype.hpp"
#include "ptio/error.hpp"
#include "ptio/tree.hpp"
#include "ptio/save.hpp"
#include "units.hpp"

namespace ptio_cli {

namespace {

constexpr help_text help{
    .name = "sample",
    .summary = "write a Llama-like sample checkpoint with ptio's writer",
    .synopsis = "usage: ptio sample FILE [--size-mb N] [--layers N] [--json]",
    .description = R"(
Write a Llama-like state_dict of about N MB (default 1000) with ptio's writer: an
OrderedDict of bfloat16 weights (embedding, per layer q/k/v/o projections, gate/up/down
MLP and two norms, a final norm) plus an lm_head that shares the embedding's storage,
and a float32 rotary table. The values are deterministic pseudo-random numbers of
magnitude about 0.01, the same for the same arguments. torch.load reads the file.
)",
    .column = 16,
};

struct sample_args {
    std::vector<std::string> operands;
    std::optional<std::string> size_mb;
    std::optional<std::string> layers;
    bool json = false;
};

std::uint64_t parse_positive(const std::optional<std::string>& text, std::string_view name,
                             std::uint64_t fallback) {
    if (!text) return fallback;
    std::size_t used = 0;
    unsigned long long v = 0;
    try {
        v = std::stoull(*text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text->size() || v == 0 || v > (1ull << 40))
        throw usage_error("--" + std::string(name) + " needs a whole number ≥ 1, not '" + *text + "'");
    return v;
}

// bfloat16 values of magnitude 2^-8 … 2^-6 with random signs and mantissas, from xorshift64.
std::vector<std::byte> bf16_values(std::size_t count, std::uint64_t seed) {
    std::vector<std::byte> out(count * 2);
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    auto* p = reinterpret_cast<std::uint16_t*>(out.data());
    for (std::size_t i = 0; i < count; i += 4) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for (std::size_t k = 0; k < 4 && i + k < count; ++k) {
            const auto r = static_cast<std::uint16_t>(x >> (16 * k));
            // sign (1 bit) | exponent 119..122 | mantissa (7 bits)
            p[i + k] = static_cast<std::uint16_t>((r & 0x8000) | ((119u + ((r >> 7) & 3u)) << 7) | (r & 0x7F));
        }
    }
    return out;
}

int run(const sample_args& args) {
    if (args.operands.size() != 1) throw usage_error("sample takes one FILE");
    const std::string& file = args.operands[0];
    const double params =
        static_cast<double>(parse_positive(args.size_mb, "size-mb", 1000)) * 1e6 / 2;
    const auto layers = static_cast<std::int64_t>(parse_positive(args.layers, "layers", 8));
    const std::int64_t vocab = 32000;
    // Per layer 4h² (attention) + 3·h·(8h/3) (MLP) = 12h², plus the vocab × h embedding.
    const double l = static_cast<double>(layers);
    std::int64_t hidden = static_cast<std::int64_t>(
        (-static_cast<double>(vocab) + std::sqrt(static_cast<double>(vocab * vocab) + 48 * l * params)) / (24 * l));
    hidden = std::max<std::int64_t>(64, hidden / 64 * 64);
    const std::int64_t inter = (hidden * 8 / 3 + 63) / 64 * 64;
    const std::int64_t heads_dim = 64;

    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    ptio::tree sd = ptio::tree::ordered_dict();
    std::uint64_t seed = 0;
    auto weight = [&](const std::string& name, std::vector<std::int64_t> shape) {
        std::size_t n = 1;
        for (auto d : shape) n *= static_cast<std::size_t>(d);
        auto storage = ptio::storage_ref::own(bf16_values(n, ++seed));
        auto t = ptio::tree::tensor(storage, ptio::dtype::bfloat16, shape, {}, 0);
        sd.set(name, t);
        return storage;
    };
    const auto embed = weight("model.embed_tokens.weight", {vocab, hidden});
    for (std::int64_t i = 0; i < layers; ++i) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj"})
            weight(p + "self_attn." + proj + ".weight", {hidden, hidden});
        weight(p + "mlp.gate_proj.weight", {inter, hidden});
        weight(p + "mlp.up_proj.weight", {inter, hidden});
        weight(p + "mlp.down_proj.weight", {hidden, inter});
        weight(p + "input_layernorm.weight", {hidden});
        weight(p + "post_attention_layernorm.weight", {hidden});
    }
    weight("model.norm.weight", {hidden});
    // Tied output head: another tensor of the embedding's storage, as torch saves tied weights.
    sd.set("lm_head.weight", ptio::tree::tensor(embed, ptio::dtype::bfloat16, {vocab, hidden}, {}, 0));
    // Rotary inverse frequencies, float32.
    std::vector<float> inv(static_cast<std::size_t>(heads_dim / 2));
    for (std::size_t i = 0; i < inv.size(); ++i)
        inv[i] = static_cast<float>(1.0 / std::pow(10000.0, 2.0 * static_cast<double>(i) / static_cast<double>(heads_dim)));
    std::vector<std::byte> inv_bytes(inv.size() * 4);
    std::memcpy(inv_bytes.data(), inv.data(), inv_bytes.size());
    sd.set("model.rotary_emb.inv_freq",
           ptio::tree::tensor(ptio::storage_ref::own(std::move(inv_bytes)), ptio::dtype::float32,
                              {static_cast<std::int64_t>(inv.size())}, {}, 0));
    const auto t1 = clock::now();
    const ptio::save_stats stats = ptio::save(sd, file);
    const auto t2 = clock::now();
    const double fill_s = std::chrono::duration<double>(t1 - t0).count();
    const double write_s = std::chrono::duration<double>(t2 - t1).count();

    output out;
    std::string& s = out.text();
    if (args.json) {
        print_json(out, {{"file", file},
                         {"tensors", stats.tensors},
                         {"storages", stats.storages},
                         {"storage_bytes", stats.storage_bytes},
                         {"file_bytes", stats.file_bytes},
                         {"hidden", hidden},
                         {"layers", layers},
                         {"fill_seconds", fill_s},
                         {"write_seconds", write_s},
                         {"write_gbps", gbps(stats.file_bytes, write_s)}});
    } else {
        s += "wrote " + file + ": " + plural(stats.tensors, "tensor", "tensors") + " (" +
             plural(stats.storages, "storage", "storages") + "), " + human_bytes(stats.file_bytes) +
             ", hidden " + std::to_string(hidden) + " × " + std::to_string(layers) + " layers, in " +
             human_seconds(write_s) + " (" + human_rate(static_cast<double>(stats.file_bytes) / write_s) + ")\n";
    }
    return 0;
}

}  // namespace

command add_sample_command(CLI::App& ptio) {
    return add_command(ptio, help, run, [](CLI::App& app, sample_args& args) {
        add_value(app, "--size-mb", args.size_mb, "N",
                  "approximate size of the weights in MB (10^6 bytes), ≥ 1");
        add_value(app, "--layers", args.layers, "N",
                  "transformer layers (default 8); the width follows from the size");
        add_flag(app, "--json", args.json,
                 R"(print {"file", "tensors", "storages", "storage_bytes", "file_bytes",
"hidden", "layers", "fill_seconds", "write_seconds", "write_gbps"})");
    });
}

}  // namespace ptio_cli
