// libFuzzer target: the whole open → list → hash → save → open round trip, as `ptio cp`
// does it. Whatever opens is rebuilt as a tree (tree::from) and saved into memory; what save
// accepts must reopen, list the same tensors under the same names, and give the same bytes,
// byte for byte. Any refusal before the save is fine (a ptio::error); anything after it that
// differs is a finding, and aborts. Seeds: real torch.save output (corpus/roundtrip/).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "fuzz_support.hpp"

namespace {

[[noreturn]] void finding(const char* what) {
    __builtin_printf("round trip finding: %s\n", what);
    std::abort();
}

std::vector<std::byte> bytes_of_view(const ptio::tensor_view& v) {
    std::vector<std::byte> out(static_cast<std::size_t>(v.nbytes()));
    v.copy_to(out);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::optional<ptio::checkpoint> first;
    std::vector<std::byte> saved;
    try {
        first.emplace(ptio::checkpoint::open(ptio_fuzz::bytes_of(data, size), {}, "fuzz"));
        for (const auto& t : first->tensors()) {
            const auto& v = t.tensor->view();
            if (v.has_data() && v.nbytes() > ptio_fuzz::max_view_bytes) return 0;  // not this target's business
            if (v.has_data()) (void)ptio_fuzz::chunked_sum(v);
        }
        ptio::save_options options;
        options.crc_threads = 1;
        saved = ptio::save(ptio::tree::from(first->root()), options);
    } catch (const ptio::error&) {
        return 0;
    }
    try {
        ptio::open_options check;
        check.verify_crc = true;
        const auto second = ptio::checkpoint::open(std::span<const std::byte>(saved), check, "saved");
        const auto a = first->tensors();
        const auto b = second.tensors();
        if (a.size() != b.size()) finding("a different number of tensors");
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (a[i].name != b[i].name) finding("a tensor under another name");
            const auto& x = a[i].tensor->view();
            const auto& y = b[i].tensor->view();
            if (x.dtype() != y.dtype() || !std::equal(x.shape().begin(), x.shape().end(), y.shape().begin(), y.shape().end()))
                finding("a tensor of another dtype or shape");
            if (x.has_data() != y.has_data()) finding("a tensor that lost or gained its data");
            if (x.has_data() && bytes_of_view(x) != bytes_of_view(y)) finding("a tensor whose bytes differ");
        }
        ptio_fuzz::exercise(second);
    } catch (const ptio::error& e) {
        __builtin_printf("round trip finding: ptio's own output does not reopen: %s\n", e.what());
        std::abort();
    }
    return 0;
}
