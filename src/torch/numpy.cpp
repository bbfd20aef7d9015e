// numpy values inside a pickle: arrays (numpy.core.multiarray._reconstruct, then BUILD with
// their state) and scalars (numpy.core.multiarray.scalar). Their elements become tensors over
// the pickle's own bytes; object arrays and dtypes torch has no match for stay opaque objects.
#include "torch/rebuild.hpp"

#include <algorithm>
#include <bit>
#include <utility>

#include "core/checked.hpp"
#include "io/mapped_file.hpp"

namespace ptio::detail::torch {
namespace {

// numpy's type strings (dtype('f4', False, True)) as torch dtypes; nullopt for the rest.
std::optional<dtype> numpy_type(std::string_view code) {
    static constexpr std::pair<std::string_view, dtype> table[] = {
        {"f2", dtype::float16}, {"f4", dtype::float32}, {"f8", dtype::float64},
        {"i1", dtype::int8}, {"i2", dtype::int16}, {"i4", dtype::int32}, {"i8", dtype::int64},
        {"u1", dtype::uint8}, {"u2", dtype::uint16}, {"u4", dtype::uint32}, {"u8", dtype::uint64},
        {"b1", dtype::boolean}, {"c8", dtype::complex64}, {"c16", dtype::complex128},
    };
    for (const auto& [c, t] : table)
        if (c == code) return t;
    return std::nullopt;
}

}  // namespace

value rebuilder::numpy_reduce(const value& fn, const value& args, std::uint64_t at) {
    if (tag_of(fn) == known::numpy_scalar) {  // (dtype, bytes): a 0-d array
        const auto a = args.items();
        return a.size() == 2 ? numpy_tensor(a[0], {}, false, a[1], at) : value{};
    }
    // A dtype, or the empty array BUILD fills: kept as the call, tagged for BUILD to find.
    node& n = pickle::make_object_node(nodes_, fn.module(), fn.name(), value::origin::call, args);
    n.tag = tag_of(fn) == known::numpy_dtype ? known::numpy_dtype : known::numpy_array;
    return value_access::make_node(kind::object, &n);
}

// An array's state (version, shape, dtype, is_fortran, data): its elements become a tensor,
// kept as the array's state, which the namer puts where the array was.
void rebuilder::numpy_build(const value& target, const value& state, std::uint64_t at) {
    if (!state.is(kind::tuple) || state.size() != 5) return;
    const auto s = state.items();
    if (!s[1].is(kind::tuple) && !s[1].is(kind::list)) return;
    const auto shape = int_list(s[1], "size", at);
    if (value t = numpy_tensor(s[2], shape, s[3].is(kind::boolean) && s[3].as_bool(), s[4], at); !t.is_none())
        nodes_.mut(target).state = t;
}

value rebuilder::numpy_tensor(const value& dtype_v, std::span<const std::int64_t> shape, bool fortran,
                              const value& data, std::uint64_t at) {
    if (tag_of(dtype_v) != known::numpy_dtype || !data.is(kind::bytes)) return {};
    const value args = dtype_v.args();
    if (!args.is(kind::tuple) || args.size() < 1 || !args.items()[0].is(kind::string)) return {};
    const auto type = numpy_type(args.items()[0].as_string());
    if (!type) return {};
    // The byte order is the dtype's BUILD state (3, '<', …): '<' little, '>' big, '|' none.
    const value st = dtype_v.state();
    const bool big = st.is(kind::tuple) && st.size() > 1 && st.items()[1].is(kind::string) &&
                     st.items()[1].as_string() == ">";
    std::uint64_t numel = 1;
    for (auto d : shape)
        if (d < 0 || mul_overflows(numel, static_cast<std::uint64_t>(d), numel))
            fail(errc::bad_tensor, at, "a numpy array with a negative or overflowing shape");
    const auto bytes = data.as_bytes();
    std::uint64_t nbytes = 0;
    if (mul_overflows(numel, element_size(*type), nbytes) || nbytes != bytes.size())
        fail(errc::bad_tensor, at, "a numpy array of " + std::to_string(numel) + " " + std::string(name(*type)) +
                                       " elements whose data holds " + std::to_string(bytes.size()) + " bytes");
    // Its bytes sit in the pickle: in the file's mapping when data.pkl is stored (large
    // arrays are viewed there, not copied), else in memory the checkpoint keeps.
    const mapped_file* in_file = nullptr;
    if (ctx_.file && !bytes.empty()) {
        const auto f = ctx_.file->bytes();
        if (bytes.data() >= f.data() && bytes.data() + bytes.size() <= f.data() + f.size()) in_file = ctx_.file;
    }
    const std::string key = "numpy@" + std::to_string(at);
    auto& s = storages_.emplace_back(std::string(ctx_.where.file), std::string(ctx_.where.record), key, location_text("cpu"), *type,
                                     nbytes,
                                     storage::options{big == (std::endian::native == std::endian::little),
                                                      ctx_.options.verify_crc, in_file});
    s.locate(bytes, at);
    const value ref = ref_to_newest();
    std::vector<std::int64_t> strides(shape.size());
    std::int64_t step = 1;
    for (std::size_t i = 0; i < shape.size(); ++i) {  // C order: last dimension fastest
        const std::size_t d = fortran ? i : shape.size() - 1 - i;
        strides[d] = step;
        step *= std::max<std::int64_t>(shape[d], 1);
    }
    tensor_flags flags;
    flags.numpy = true;
    return checked_tensor(ref, std::nullopt, 0, shape, strides, at, flags);
}

}  // namespace ptio::detail::torch
