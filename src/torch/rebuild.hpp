// rebuild — the resolver that turns torch's pickle into tensors and containers.
//
// It answers the unpickler's GLOBAL, REDUCE, NEWOBJ, BUILD and persistent-id requests from a
// fixed table: storage references become storages checked against their records, the rebuild
// functions of FORMAT.md §2.7 become tensor views checked against their storages, and
// OrderedDict, torch.Size, _codecs.encode, set and friends become plain values. Anything else
// becomes an opaque object; nothing is ever called.
#pragma once

#include <deque>
#include <string>
#include <unordered_map>

#include "io/cursor.hpp"
#include "pickle/machine.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/tensor.hpp"
#include "torch/storage.hpp"
#include "zip/archive.hpp"

namespace ptio::detail::torch {

struct rebuild_context {
    const zip::archive* archive = nullptr;
    std::string record_dir = "data/";  // where persistent ids' keys point
    source where;                      // data.pkl, for messages
    open_options options;
    bool swap_bytes = false;
};

class rebuilder final : public pickle::resolver {
public:
    rebuilder(rebuild_context ctx, arena& nodes, std::deque<storage>& storages,
              std::deque<tensor>& tensors)
        : ctx_(std::move(ctx)), nodes_(nodes), storages_(storages), tensors_(tensors) {
        by_entry_.resize(ctx_.archive->entries().size());
    }

    value global(std::string_view module, std::string_view name, std::uint64_t at) override;
    value persistent(const value& pid, std::uint64_t at) override;
    value reduce(const value& callable, const value& args, std::uint64_t at) override;
    value instantiate(const value& cls, const value& args, std::uint64_t at) override;
    void build(const value& target, const value& state, std::uint64_t at) override;

    /// A 1-D tensor over a whole storage (a storage saved on its own).
    value storage_tensor(const storage& s);

private:
    [[noreturn]] void fail(errc code, std::uint64_t at, const std::string& what) const;
    value tensor_from(const value& storage_ref, std::optional<dtype> explicit_type,
                      const value& offset, const value& size, const value& stride,
                      bool requires_grad, std::uint64_t at, const value* metadata = nullptr);
    value meta_tensor(const value& type, const value& size, const value& stride, bool rg,
                      std::uint64_t at);
    std::vector<std::int64_t> int_list(const value& v, const char* what, std::uint64_t at) const;
    value as_parameter(const value& t, bool requires_grad, std::uint64_t at);
    value make_bytes_from(const value& text, const value& encoding, std::uint64_t at);

    rebuild_context ctx_;
    arena& nodes_;
    std::deque<storage>& storages_;
    std::deque<tensor>& tensors_;
    std::unordered_map<std::string, value> globals_;   // "module\nname" → its node
    static constexpr int max_from_type_depth = 64;
    int from_type_depth_ = 0;
    std::vector<value> by_entry_;  // storage ref per archive entry (none until first seen)
};

}  // namespace ptio::detail::torch
