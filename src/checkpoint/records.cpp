// The archive's records and its extra files, for tools that inspect the container. The
// pre-zip formats have neither.
#include "checkpoint/file_source.hpp"

namespace ptio::detail {

namespace {
constexpr std::string_view extra_dir = "extra/";  // where torch.jit.save puts _extra_files
}

std::span<const record_info> file_source::records() const {
    std::call_once(records_once_, [this] {
        if (!zip_) return;
        const auto& z = *zip_;
        records_.reserve(z.entries().size());
        for (const auto& e : z.entries())
            records_.push_back({std::string(z.relative_name(e)), e.header_offset, e.size,
                                e.compressed_size, e.method, e.crc32});
    });
    return records_;
}

std::vector<std::string> file_source::extra_files() const {
    std::vector<std::string> names;
    if (!zip_) return names;
    const auto& z = *zip_;
    for (const auto& e : z.entries()) {
        const auto rel = z.relative_name(e);
        if (rel.size() > extra_dir.size() && rel.starts_with(extra_dir))
            names.emplace_back(rel.substr(extra_dir.size()));
    }
    return names;
}

std::vector<std::byte> file_source::extra_file(std::string_view name) const {
    const zip::entry* e = nullptr;
    if (zip_ && !name.empty()) e = zip_->find(std::string(extra_dir) + std::string(name));
    if (e == nullptr) no_extra_file(name);
    auto bytes = zip_->extract(*e);
    zip_->check_crc(*e, bytes);  // small, and read whole anyway: always checked, as torch does
    return bytes;
}

}  // namespace ptio::detail
