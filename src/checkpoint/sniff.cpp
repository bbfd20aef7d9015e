// Not a torch.save file: the message says what the bytes are, so the user knows what went
// wrong (a download that returned a web page, a Git LFS pointer, another format).
#include "checkpoint/sniff.hpp"

#include <cctype>
#include <cstring>
#include <optional>
#include <string_view>

#include "core/text.hpp"
#include "ptio/error.hpp"
#include "torch/legacy.hpp"
#include "zip/archive.hpp"

namespace ptio::detail {

namespace {

constexpr std::string_view index_suffix = ".index.json";

bool starts_with(std::span<const std::byte> b, std::string_view s) {
    return b.size() >= s.size() && std::memcmp(b.data(), s.data(), s.size()) == 0;
}

[[noreturn]] void refuse(errc code, const std::string& file, const std::string& why) {
    throw error(code, file, {}, 0, why);
}

[[noreturn]] void refuse_non_zip(const std::string& file, std::span<const std::byte> b) {
    auto fail = [&](errc code, const std::string& why) { refuse(code, file, why); };
    if (b.empty()) fail(errc::not_a_checkpoint, "the file is empty");
    if (starts_with(b, "version https://git-lfs"))
        fail(errc::not_a_checkpoint,
             "this is a Git LFS pointer, not the checkpoint: fetch the real file (git lfs pull)");
    std::size_t ws = 0;
    while (ws < b.size() && ws < 512 && std::isspace(static_cast<unsigned char>(b[ws]))) ++ws;
    std::string head;
    for (std::size_t i = ws; i < b.size() && i < ws + 15; ++i)
        head += static_cast<char>(std::tolower(static_cast<unsigned char>(b[i])));
    if (head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<?xml"))
        fail(errc::not_a_checkpoint,
             "this is an HTML or XML page, not a checkpoint (a download that returned a web page?)");
    if (starts_with(b, "PYTORCH1"))
        fail(errc::unsupported_format,
             "a pre-release PyTorch 1.0 container ('PYTORCH1'), which torch.load refuses too");
    if (b.size() >= 8 && std::memcmp(b.data() + 4, "PTMF", 4) == 0)
        fail(errc::unsupported_format, "a mobile flatbuffer module (.ptl), not a torch.save file");
    if (b.size() >= 9 && b[8] == std::byte{'{'})
        fail(errc::not_a_checkpoint, "this looks like a safetensors file, not a torch.save file");
    if (starts_with(b, "\x1f\x8b"))
        fail(errc::not_a_checkpoint,
             "a gzip file, not a torch.save file: decompress it (gunzip) and open what it holds");
    if (starts_with(b, "\x93NUMPY"))
        fail(errc::not_a_checkpoint, "a numpy .npy file (numpy.save), not a torch.save file: numpy.load reads it");
    // A pickle's PROTO opcode; torch's legacy format (a pickle too) was recognized before this.
    if (b.size() >= 2 && b[0] == std::byte{0x80} && b[1] >= std::byte{2} && b[1] <= std::byte{5})
        fail(errc::not_a_checkpoint,
             "a plain pickle (protocol " + std::to_string(static_cast<int>(b[1])) +
                 "), not a torch.save file: ptio reads torch.save's formats only");
    refuse(errc::not_a_checkpoint, file,
           "not a torch.save file: it does not start with a zip header (first bytes: " + text::hex_prefix(b) + ")");
}

}  // namespace

bool is_index(const std::filesystem::path& path) {
    std::error_code ec;
    return std::filesystem::is_directory(path, ec) || has_index_suffix(path);
}

bool has_index_suffix(const std::filesystem::path& path) {
    return path.filename().string().ends_with(index_suffix);
}

file_layout sniff(std::span<const std::byte> bytes, const std::string& file) {
    if (zip::looks_like_zip(bytes)) return file_layout::zip;
    if (torch::looks_like_tar(bytes)) return file_layout::tar;
    if (torch::looks_like_legacy(bytes)) return file_layout::legacy;
    refuse_non_zip(file, bytes);
}

}  // namespace ptio::detail
