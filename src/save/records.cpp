// The record assembly: the order and the contents of the records torch.save writes, so that
// a file of ours and one of torch's differ only where their trees do.
#include "save/records.hpp"

#include <algorithm>
#include <bit>
#include <string_view>
#include <thread>
#include <vector>

#include "save/tree_node.hpp"
#include "save/tree_pickler.hpp"
#include "torch/storage.hpp"

namespace ptio::detail {
namespace {

unsigned crc_threads(const save_options& o) {
    if (o.crc_threads != 0) return o.crc_threads;
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    return std::min(4u, std::max(1u, hw - 1));
}

std::span<const std::byte> text(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

save_stats write_archive(const tree& root, zip::sink& out, std::string prefix, const save_options& o) {
    const pickled_tree pickled = pickle_tree(root, {o.allow_globals, o.drop_objects});

    zip::writer zw(out, std::move(prefix), {o.alignment, o.crc32, o.crc32 ? crc_threads(o) : 0});
    zw.add("data.pkl", pickled.pkl);
    zw.add(".format_version", text("1"));  // 1: storages in numeric key order
    const std::string alignment = std::to_string(o.alignment);
    zw.add(".storage_alignment", text(alignment));
    zw.add("byteorder", text(std::endian::native == std::endian::little ? "little" : "big"));

    save_stats stats;
    stats.tensors = pickled.tensors;
    stats.storages = pickled.storages.size();
    stats.dropped = pickled.dropped;
    std::vector<std::byte> host;  // storages read through a storage_reader land here
    for (std::size_t k = 0; k < pickled.storages.size(); ++k) {
        const save_storage& s = *pickled.storages[k].source;
        std::span<const std::byte> bytes;
        if (s.checkpoint != nullptr) {
            bytes = s.checkpoint->bytes().first(static_cast<std::size_t>(s.nbytes));
        } else if (s.read) {
            host.resize(static_cast<std::size_t>(s.nbytes));
            s.read(host);
            bytes = host;
        } else {
            bytes = s.borrowed;
        }
        zw.add("data/" + std::to_string(k), bytes);
        stats.storage_bytes += bytes.size();
    }
    zw.add("version", text("3\n"));
    zw.finish();
    stats.file_bytes = out.position();
    stats.zip64 = zw.used_zip64();
    return stats;
}

}  // namespace ptio::detail
