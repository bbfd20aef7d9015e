// tools/ptio/output.hpp — buffered writes to stdout.
//
// Commands build their text in a std::string and hand it over in large pieces: a listing of
// 100k tensors costs a few dozen fwrite calls, not one write per line. When an exception
// unwinds past it, what is left unflushed is dropped rather than written as a torn tail.
#pragma once

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace ptio_cli {

class output {
public:
    explicit output(std::FILE* stream = stdout) : stream_(stream) { buffer_.reserve(limit); }
    output(const output&) = delete;
    output& operator=(const output&) = delete;
    ~output() {
        if (std::uncaught_exceptions() == exceptions_) flush();
    }

    /// The text being built; call maybe_flush() after appending a unit (a line, an entry).
    [[nodiscard]] std::string& text() noexcept { return buffer_; }
    void maybe_flush() {
        if (buffer_.size() >= limit) flush();
    }
    void flush() {
        if (!buffer_.empty()) std::fwrite(buffer_.data(), 1, buffer_.size(), stream_);
        buffer_.clear();
    }

private:
    static constexpr std::size_t limit = std::size_t{1} << 20;
    std::FILE* stream_;
    int exceptions_ = std::uncaught_exceptions();
    std::string buffer_;
};

}  // namespace ptio_cli
