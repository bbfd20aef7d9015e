// ptio::save (save.hpp): where the archive goes. A file goes through io's file_sink, so a
// failed save leaves the destination as it was; a buffer grows in memory.
#include "ptio/save.hpp"

#include <algorithm>
#include <string>

#include "io/file_sink.hpp"
#include "save/records.hpp"
#include "zip/writer.hpp"

namespace ptio {
namespace {

class buffer_sink final : public detail::zip::sink {
public:
    void write(std::span<const std::byte> b) override { out.insert(out.end(), b.begin(), b.end()); }
    [[nodiscard]] std::uint64_t position() const noexcept override { return out.size(); }
    std::vector<std::byte> out;
};

// The zip writer's sink over a file_sink (io sits above zip and cannot know its interface).
class file_sink_adapter final : public detail::zip::sink {
public:
    explicit file_sink_adapter(detail::file_sink& file) noexcept : file_(file) {}
    void write(std::span<const std::byte> b) override { file_.write(b); }
    [[nodiscard]] std::uint64_t position() const noexcept override { return file_.position(); }

private:
    detail::file_sink& file_;
};

std::string stem_prefix(const std::filesystem::path& p) {
    // torch's basename rule: the file name with its last extension removed.
    std::string name = p.filename().string();
    if (auto dot = name.rfind('.'); dot != std::string::npos) name.resize(dot);
    // Non-ASCII paths: torch hands Python a stream, so the prefix is "archive".
    const bool ascii = std::all_of(name.begin(), name.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    return name.empty() || !ascii ? "archive" : name;
}

}  // namespace

save_stats save(const tree& root, const std::filesystem::path& path, const save_options& options) {
    detail::file_sink file(path);
    file_sink_adapter out(file);
    std::string prefix = options.prefix.empty() ? stem_prefix(path) : options.prefix;
    save_stats stats = detail::write_archive(root, out, std::move(prefix), options);
    file.commit(options.sync);
    return stats;
}

std::vector<std::byte> save(const tree& root, const save_options& options) {
    buffer_sink out;
    (void)detail::write_archive(root, out, options.prefix.empty() ? "archive" : options.prefix, options);
    return std::move(out.out);
}

}  // namespace ptio
