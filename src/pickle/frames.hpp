// pickle/frames — protocol 4's FRAME opcode, checked as CPython's unpickler checks it.
//
// A frame must fit the bytes left; no opcode may run past the end of the frame it starts in;
// a new FRAME may come only once the current one is used up. ptio reads the whole pickle at
// once, so frames change nothing it reads: they are checked so that a file torch refuses is
// refused here too. Failures throw ptio::error through the cursor (bad_pickle; truncated
// for a frame longer than what is left). Owned by one unpickler run; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/cursor.hpp"

namespace ptio::detail::pickle {

class frames {
public:
    /// Before each opcode: leaves a frame that is used up, failing if the opcode before
    /// this one ran past its end.
    void next_opcode(const cursor& c) {
        if (end_ != 0 && c.position() >= end_) {
            if (c.position() > end_)
                c.fail_at(errc::bad_pickle, last_op_,
                          "the opcode runs past the end of its FRAME (at offset " +
                              std::to_string(frame_op_) + "), which ends at offset " +
                              std::to_string(absolute(c, end_)));
            end_ = 0;
        }
        last_op_ = c.absolute();
    }
    /// FRAME at offset `at` with its length `n` read: the next `n` bytes are one frame.
    void enter(const cursor& c, std::uint64_t at, std::uint64_t n) {
        if (end_ != 0)
            c.fail_at(errc::bad_pickle, at,
                      "a FRAME before the end of the current frame, which ends at offset " +
                          std::to_string(absolute(c, end_)));
        if (n > c.remaining())
            c.fail_at(errc::truncated, at,
                      "a FRAME of " + std::to_string(n) + " bytes but only " +
                          std::to_string(c.remaining()) + " remain");
        end_ = c.position() + static_cast<std::size_t>(n);
        frame_op_ = at;
    }

private:
    static std::uint64_t absolute(const cursor& c, std::size_t pos) {
        return c.absolute() - c.position() + pos;
    }

    std::size_t end_ = 0;  // position just past the current frame; 0 outside one (a
                           // frame ends at 9 or later: its own opcode comes first)
    std::uint64_t frame_op_ = 0;
    std::uint64_t last_op_ = 0;
};

}  // namespace ptio::detail::pickle
