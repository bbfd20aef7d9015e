// checkpoint: the public face of a checkpoint_source. open() picks the source for a path or
// bytes; every other method forwards, whatever the source is.
#include "ptio/checkpoint.hpp"

#include <optional>

#include "checkpoint/file_source.hpp"
#include "checkpoint/sharded.hpp"
#include "checkpoint/sniff.hpp"
#include "checkpoint/source.hpp"
#include "io/mapped_file.hpp"

namespace ptio {

checkpoint::checkpoint(std::unique_ptr<detail::checkpoint_source> source) noexcept
    : source_(std::move(source)) {}
checkpoint::checkpoint(checkpoint&&) noexcept = default;
checkpoint& checkpoint::operator=(checkpoint&&) noexcept = default;
checkpoint::~checkpoint() = default;

checkpoint checkpoint::open(const std::filesystem::path& path, const open_options& options) {
    // A file is looked up once (a dataset opens small files by the thousand): its name, then
    // the open that tells a directory, which is read as an index, from a file.
    if (!detail::has_index_suffix(path))
        if (auto file = detail::file_source::open_unless_directory(path, options))
            return checkpoint(std::move(file));
    return checkpoint(std::make_unique<detail::sharded_source>(
        detail::sharded_source::index_of(path), options));
}

checkpoint checkpoint::open(std::span<const std::byte> bytes, const open_options& options,
                            std::string name) {
    return checkpoint(std::make_unique<detail::file_source>(std::move(name), options,
                                                            detail::mapped_file::borrow(bytes)));
}

checkpoint checkpoint::open(std::vector<std::byte>&& bytes, const open_options& options,
                            std::string name) {
    return checkpoint(std::make_unique<detail::file_source>(
        std::move(name), options, detail::mapped_file::adopt(std::move(bytes))));
}

const value& checkpoint::root() const { return source_->root(); }
std::span<const named_tensor> checkpoint::tensors() const { return source_->tensors(); }
std::span<const global_ref> checkpoint::globals() const { return source_->globals(); }
std::span<const named_tensor> checkpoint::state_dict() const { return source_->state_dict(); }
const named_tensor* checkpoint::find(std::string_view name) const { return source_->find(name); }

const tensor& checkpoint::at(std::string_view name) const {
    if (const auto* t = find(name)) return *t->tensor;
    throw error(errc::not_found, file(), {}, std::nullopt,
                "no tensor named '" + std::string(name) + "'");
}

std::vector<std::string> checkpoint::shard_files() const { return source_->shard_files(); }
std::string_view checkpoint::shard_of(std::string_view name) const noexcept {
    return source_->shard_of(name);
}
const std::string& checkpoint::file() const noexcept { return source_->file(); }
std::string_view checkpoint::format() const noexcept { return source_->format(); }
std::string_view checkpoint::byteorder() const noexcept { return source_->byteorder(); }
std::string_view checkpoint::prefix() const noexcept { return source_->prefix(); }
std::span<const record_info> checkpoint::records() const { return source_->records(); }
std::vector<std::string> checkpoint::extra_files() const { return source_->extra_files(); }
std::vector<std::byte> checkpoint::extra_file(std::string_view name) const {
    return source_->extra_file(name);
}
std::size_t checkpoint::verify(const std::function<void(const error&)>& problem) const {
    return source_->verify(problem);
}

// A sharded checkpoint's shards are all mapped files, opened with its options.
bool checkpoint::is_copy_on_write() const noexcept {
    return source_->maps_files() && source_->options().copy_on_write;
}

}  // namespace ptio
