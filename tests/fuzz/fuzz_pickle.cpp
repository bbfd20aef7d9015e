// libFuzzer target: the unpickler on its own (pickle::run over raw bytes), with a resolver
// that makes every GLOBAL, REDUCE, NEWOBJ, BUILD and persistent id an opaque object, so the
// opcodes, the memo, the stack and the caps are fuzzed apart from torch's meaning. The
// result is walked. Seeds: data.pkl of real torch.save files (corpus/pickle/).
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "io/cursor.hpp"
#include "pickle/machine.hpp"
#include "pickle/node.hpp"

namespace {

namespace pk = ptio::detail::pickle;

class opaque_resolver final : public pk::resolver {
public:
    explicit opaque_resolver(ptio::detail::arena& nodes) : nodes_(nodes) {}

    ptio::value global(std::string_view module, std::string_view name, std::uint64_t) override {
        return pk::make_object(nodes_, module, name, ptio::value::origin::global);
    }
    ptio::value persistent(const ptio::value& pid, std::uint64_t) override {
        return pk::make_object(nodes_, "fuzz", "persistent", ptio::value::origin::call,
                               pk::make_tuple(nodes_, {pid}));
    }
    ptio::value reduce(const ptio::value& callable, const ptio::value& args, std::uint64_t) override {
        return made(callable, args, ptio::value::origin::call);
    }
    ptio::value instantiate(const ptio::value& cls, const ptio::value& args, std::uint64_t) override {
        return made(cls, args, ptio::value::origin::instance);
    }
    void build(const ptio::value&, const ptio::value&, std::uint64_t) override {}

private:
    ptio::value made(const ptio::value& callable, const ptio::value& args, ptio::value::origin o) {
        const bool named = callable.is(ptio::kind::object);
        return pk::make_object(nodes_, named ? callable.module() : "fuzz", named ? callable.name() : "call",
                               o, args.is(ptio::kind::tuple) ? args : pk::make_tuple(nodes_, {args}));
    }

    ptio::detail::arena& nodes_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        ptio::detail::arena nodes;
        opaque_resolver r(nodes);
        ptio::detail::cursor c(ptio_fuzz::bytes_of(data, size), {});
        const auto result = pk::run(c, nodes, r, ptio::limits{});
        ptio_fuzz::walk(result.root);
    } catch (const ptio::error&) {
    }
    return 0;
}
