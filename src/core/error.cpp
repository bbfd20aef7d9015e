#include "ptio/error.hpp"

namespace ptio {

std::string_view to_string(errc code) noexcept {
    switch (code) {
        case errc::io_error: return "io_error";
        case errc::not_a_checkpoint: return "not_a_checkpoint";
        case errc::unsupported_format: return "unsupported_format";
        case errc::truncated: return "truncated";
        case errc::bad_zip: return "bad_zip";
        case errc::missing_record: return "missing_record";
        case errc::compression_error: return "compression_error";
        case errc::crc_mismatch: return "crc_mismatch";
        case errc::bad_pickle: return "bad_pickle";
        case errc::unknown_opcode: return "unknown_opcode";
        case errc::unsafe_global: return "unsafe_global";
        case errc::forbidden_global: return "forbidden_global";
        case errc::bad_storage: return "bad_storage";
        case errc::bad_tensor: return "bad_tensor";
        case errc::limit_exceeded: return "limit_exceeded";
        case errc::not_found: return "not_found";
        case errc::invalid_argument: return "invalid_argument";
        case errc::cuda_unavailable: return "cuda_unavailable";
        case errc::unknown_location: return "unknown_location";
        case errc::out_of_memory: return "out_of_memory";
        case errc::cancelled: return "cancelled";
    }
    return "unknown";
}

namespace {
std::string compose(const std::string& file, const std::string& record,
                    std::optional<std::uint64_t> offset, const std::string& detail) {
    std::string out;
    if (!file.empty()) out += file + ": ";
    if (!record.empty()) out += record + ": ";
    if (offset) out += "at offset " + std::to_string(*offset) + ": ";
    out += detail;
    return out;
}
}  // namespace

error::error(errc code, std::string file, std::string record, std::optional<std::uint64_t> offset,
             std::string detail)
    : std::runtime_error(compose(file, record, offset, detail)), code_(code),
      file_(std::move(file)), record_(std::move(record)), offset_(offset),
      detail_(std::move(detail)) {}

error::error(errc code, std::string detail) : error(code, {}, {}, std::nullopt, std::move(detail)) {}

}  // namespace ptio
