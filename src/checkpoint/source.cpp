// What every checkpoint source shares: the state_dict() naming and the look-up by name that
// falls back on it, so each kind of file need only list its tree.
#include "checkpoint/source.hpp"

#include <optional>

#include "checkpoint/state_dict.hpp"
#include "checkpoint/tensor_lister.hpp"

namespace ptio::detail {

checkpoint_source::~checkpoint_source() = default;

std::string_view checkpoint_source::prefix() const noexcept { return {}; }
std::span<const record_info> checkpoint_source::records() const { return {}; }
std::vector<std::string> checkpoint_source::extra_files() const { return {}; }
std::vector<std::byte> checkpoint_source::extra_file(std::string_view name) const {
    no_extra_file(name);
}
std::vector<std::string> checkpoint_source::shard_files() const { return {}; }
std::string_view checkpoint_source::shard_of(std::string_view) const noexcept { return {}; }

void checkpoint_source::no_extra_file(std::string_view name) const {
    throw error(errc::not_found, file(), {}, std::nullopt,
                "no extra file named '" + std::string(name) + "'");
}

const named_tensor* checkpoint_source::find_listed(std::string_view name) const {
    return listed_.find(tensors(), name);
}

std::span<const named_tensor> checkpoint_source::state_dict() const {
    if (lists_state_dict()) return tensors();
    // A failed build (a cap passed) throws and leaves the flag unset, so a later call retries.
    std::call_once(state_dict_once_, [this] {
        std::vector<named_tensor> out;
        text_pool texts;  // moved in whole on success (a move keeps the texts where they are)
        const tree_facts tree = facts();
        tensor_lister lister(out, texts, file(), std::string(tree.record), tree.nodes,
                             options_.caps.max_depth);
        list_state_dict(root(), lister);
        state_dict_ = std::move(out);  // a vector's move keeps its buffer, so settle here
        settle_single_paths(state_dict_);
        state_dict_texts_ = std::move(texts);
    });
    return state_dict_;
}

const named_tensor* checkpoint_source::find(std::string_view name) const {
    if (const named_tensor* t = find_listed(name)) return t;
    if (lists_state_dict()) return nullptr;  // its state_dict() names are the ones just tried
    // A whole pickled module's tensors are also found by their state_dict() names
    // ("fc.weight" for "_modules.fc._parameters.weight"); indexed on the first miss.
    return state_names_.find(state_dict(), name);
}

}  // namespace ptio::detail
