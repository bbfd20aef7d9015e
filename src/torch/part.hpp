// torch/part — one part of a pre-zip checkpoint (the legacy file, a tar member): a cursor
// over its bytes and the pickles in it, run one after another with the caller's rebuilder.
// Borrows the bytes, the rebuilder and the arena, which outlive it; not thread-safe.
// Failures throw ptio::error naming the file, the part and the absolute offset.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "io/cursor.hpp"
#include "pickle/machine.hpp"
#include "torch/rebuild.hpp"

namespace ptio::detail::torch {

class part {
public:
    /// `base`: the absolute offset of the part's first byte, for messages.
    part(std::span<const std::byte> bytes, std::string_view file, std::string_view name,
         std::uint64_t base, rebuilder& rb, arena& nodes, const limits& caps)
        : c_(bytes, {file, name, base}), rb_(rb), nodes_(nodes), caps_(caps) {}

    /// The next pickle's object.
    value next() { return pickle::run(c_, nodes_, rb_, caps_).root; }
    /// The bytes between and after the pickles (blobs, counts).
    [[nodiscard]] cursor& bytes() noexcept { return c_; }
    [[nodiscard]] const limits& caps() const noexcept { return caps_; }

    [[noreturn]] void fail(errc code, std::uint64_t at, const std::string& what) const {
        c_.fail_at(code, at, what);
    }

private:
    cursor c_;
    rebuilder& rb_;
    arena& nodes_;
    const limits& caps_;
};

}  // namespace ptio::detail::torch
