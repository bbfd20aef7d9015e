// Opening one torch.save file: map (or read) it, sniff its layout, run that layout's opener.
#include "checkpoint/file_source.hpp"

#include <new>
#include <optional>

#include "checkpoint/namer.hpp"
#include "checkpoint/sniff.hpp"

namespace ptio::detail {

namespace {

mapped_file::mode mode_of(const open_options& options) {
    return options.copy_on_write ? mapped_file::mode::copy_on_write : mapped_file::mode::read_only;
}

}  // namespace

std::unique_ptr<file_source> file_source::open(const std::filesystem::path& path,
                                               const open_options& options) {
    return std::make_unique<file_source>(path.string(), options, mapped_file::map(path, mode_of(options)));
}

std::unique_ptr<file_source> file_source::open_unless_directory(const std::filesystem::path& path,
                                                                const open_options& options) {
    auto map = mapped_file::map_unless_directory(path, mode_of(options));
    if (!map) return nullptr;
    return std::make_unique<file_source>(path.string(), options, std::move(*map));
}

file_source::file_source(std::string file, const open_options& options, mapped_file map)
    : checkpoint_source(options), file_(std::move(file)), map_(std::move(map)) {
    // Allocation failures caused by a file (a huge claimed size, a bomb of small objects) are
    // reported as the file's problem, not as std::bad_alloc.
    try {
        open_checked();
    } catch (const std::bad_alloc&) {
        throw error(errc::limit_exceeded, file_, {}, std::nullopt, "out of memory while opening");
    }
}

void file_source::open_checked() {
    // Metadata reads jump around; keep the kernel from reading ahead into storage pages.
    // This must come before the first byte is touched: a fault with default advice reads
    // ahead as far as the device's read_ahead_kb (megabytes on some disks).
    map_.advise(mapped_file::advice::random);
    switch (sniff(map_.bytes(), file_)) {
        case file_layout::zip: open_zip(); break;
        case file_layout::tar: open_pre_zip(torch::id_style::tar); break;
        case file_layout::legacy: open_pre_zip(torch::id_style::legacy); break;
    }
    // What the tree held only while it was built (call arguments, persistent ids, the sizes
    // a tensor took in: most of a state dict's nodes) goes now; the root is what stays.
    value* const roots[] = {&root_};
    nodes_.compact(roots);
    settle_single_paths(named_);  // every pickle is named: named_ is final
    map_.advise(mapped_file::advice::normal);
    // Nothing after the open reads the pages the open read: the archive copies its names out
    // of the directory, the tree copies its text out of a mapped pickle (arena::view_pickle),
    // and a numpy array's bytes inside a stored pickle are a storage's, read through it. So
    // they leave the process's resident set; a read (that storage's) faults its pages back in.
    map_.release_pages();
    // Every look-up of a record by name is done (an extra file's, later, scans the entries).
    if (zip_) zip_->drop_index();
}

namer file_source::namer_for(torch::rebuilder& rb, std::string record) {
    named_.reserve(named_.size() + tensor_store_.size());  // most tensors are listed once
    return namer(rb, nodes_, tensor_lister(named_, name_texts_, file_, std::move(record), nodes_.size(),
                                   options().caps.max_depth));
}

std::string_view file_source::prefix() const noexcept {
    return zip_ ? zip_->prefix() : std::string_view();
}

}  // namespace ptio::detail
