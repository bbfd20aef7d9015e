// The rebuilder's dispatch: each global is classified once, and REDUCE, NEWOBJ and BUILD
// act on the tag it got. What torch would build by calling code is built here from a fixed
// table; anything else stays an object that records the call.
#include "torch/rebuild.hpp"

#include <cctype>

#include "core/text.hpp"

namespace ptio::detail::torch {

using va = value_access;

void rebuilder::fail(errc code, std::uint64_t at, const std::string& what) const {
    throw error(code, std::string(ctx_.where.file), std::string(ctx_.where.record), at, what);
}

value rebuilder::global(std::string_view module, std::string_view name, std::uint64_t at) {
    std::string key;
    key.reserve(module.size() + name.size() + 1);
    key.append(module).append("\n").append(name);
    if (auto it = globals_.find(key); it != globals_.end()) return it->second;

    const global_info g = classify(module, name);
    seen_.push_back({g, at, std::string(ctx_.where.record)});
    if (g.unsafe)
        fail(errc::unsafe_global, at,
             "the pickle names " + g.module + "." + g.name +
                 ", a callable that runs code, loads other pickles or touches the system; ptio "
                 "never calls globals, and refuses files that name these");
    if (ctx_.options.weights_only && !g.weights_only_ok)
        fail(errc::forbidden_global, at,
             "weights_only: " + g.module + "." + g.name +
                 " is not in torch's weights_only allowlist");
    node& n = pickle::make_object_node(nodes_, g.module, g.name, value::origin::global);
    n.tag = g.tag;
    n.aux = g.aux;
    const value v = va::make_node(kind::object, &n);
    globals_.emplace(std::move(key), v);
    return v;
}

value rebuilder::make_bytes_from(const value& text, const value& encoding, std::uint64_t at) {
    if (!text.is(kind::string)) return {};
    std::string enc = encoding.is(kind::string) ? std::string(encoding.as_string()) : "utf-8";
    for (auto& c : enc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string out;
    if (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1") {
        auto latin1 = text::utf8_to_latin1(text.as_string());
        if (!latin1) fail(errc::bad_pickle, at, "_codecs.encode to Latin-1 of text with characters above U+00FF");
        out = std::move(*latin1);
    } else if (enc == "utf-8" || enc == "utf8" || enc == "ascii") {
        out = std::string(text.as_string());
    } else {
        return {};
    }
    return pickle::make_string(nodes_, std::move(out), kind::bytes);
}

namespace {

// The dotted path a global or a chain of getattrs on one names ("torch.serialization",
// "m.Outer.Inner"), or false for anything else; chains past 32 links are not followed.
bool dotted_path(const value& v, std::string& out, int links = 0) {
    if (!v.is(kind::object) || links > 32) return false;
    if (v.object_origin() == value::origin::global) {
        out.append(v.module()).append(".").append(v.name());
        return true;
    }
    if (v.object_origin() != value::origin::call || v.module() != "builtins" || v.name() != "getattr")
        return false;
    const auto g = v.args().items();
    if (g.size() != 2 || !g[1].is(kind::string) || !dotted_path(g[0], out, links + 1)) return false;
    out.append(".").append(g[1].as_string());
    return true;
}

}  // namespace

value rebuilder::reduce(const value& fn, const value& args_v, std::uint64_t at) {
    const auto a = args_v.items();
    // getattr(target, "name") stays an object (nothing is looked up), but one that reaches
    // what the globals table refuses is refused as naming it would be.
    if (fn.is(kind::object) && fn.object_origin() == value::origin::global && fn.module() == "builtins" &&
        fn.name() == "getattr" && a.size() == 2 && a[1].is(kind::string)) {
        std::string target;
        if (dotted_path(a[0], target) && unsafe_getattr(target, a[1].as_string()))
            fail(errc::unsafe_global, at,
                 "the pickle takes getattr(" + target + ", \"" + std::string(a[1].as_string()) +
                     "\"), which reaches a callable that runs code, loads other pickles or touches "
                     "the system; ptio never calls globals, and refuses files that name these");
    }
    auto arg_bool = [&](std::size_t i) { return i < a.size() && a[i].is(kind::boolean) && a[i].as_bool(); };
    auto need = [&](std::size_t n, const char* what) {
        if (a.size() < n)
            fail(errc::bad_tensor, at, std::string(what) + " called with " + std::to_string(a.size()) +
                                           " arguments, needs " + std::to_string(n));
    };
    switch (tag_of(fn)) {
        case known::rebuild_tensor:
            need(4, "_rebuild_tensor");
            return tensor_from(a[0], std::nullopt, a[1], a[2], a[3], false, at);
        case known::rebuild_tensor_v2:
            need(4, "_rebuild_tensor_v2");
            return tensor_from(a[0], std::nullopt, a[1], a[2], a[3], arg_bool(4), at,
                               a.size() > 6 ? &a[6] : nullptr);
        case known::rebuild_tensor_v3: {
            need(7, "_rebuild_tensor_v3");
            if (tag_of(a[6]) != known::dtype_global) fail(errc::bad_tensor, at, "_rebuild_tensor_v3 without a dtype");
            return tensor_from(a[0], static_cast<dtype>(node_of(a[6])->aux), a[1], a[2], a[3],
                               arg_bool(4), at, a.size() > 7 ? &a[7] : nullptr);
        }
        case known::rebuild_qtensor:
            need(6, "_rebuild_qtensor");
            return tensor_from(a[0], std::nullopt, a[1], a[2], a[3], arg_bool(5), at);
        case known::rebuild_meta_tensor_no_storage:
            need(3, "_rebuild_meta_tensor_no_storage");
            return meta_tensor(a[0], a[1], a[2], arg_bool(3), at);
        case known::rebuild_parameter:
        case known::rebuild_parameter_with_state:
            need(2, "_rebuild_parameter");
            return as_parameter(a[0], arg_bool(1), at);
        case known::rebuild_from_type:
        case known::rebuild_from_type_v2: {
            need(3, "_rebuild_from_type");
            if (!a[2].is(kind::tuple)) break;
            // torch loads a few of these nested in each other; each level recurses here, so
            // the nesting is capped (a file of 100,000 levels would overflow the stack).
            if (from_type_depth_ >= max_from_type_depth)
                fail(errc::limit_exceeded, at, "_rebuild_from_type nested deeper than " +
                                                   std::to_string(max_from_type_depth));
            ++from_type_depth_;
            value inner;
            try {
                inner = reduce(a[0], a[2], at);
            } catch (...) {
                --from_type_depth_;
                throw;
            }
            --from_type_depth_;
            if (inner.is(kind::tensor) && tag_of(a[1]) == known::parameter_class)
                return as_parameter(inner, inner.as_tensor().requires_grad(), at);
            if (!inner.is(kind::tensor)) break;
            // torch.Tensor itself is the tensor (torch drops the state then); a subclass is an
            // instance of the class whose tensor is its argument and whose attributes (a
            // wrapper's `elem`, its slots) are its state.
            if (tag_of(a[1]) == known::tensor_class || !a[1].is(kind::object)) return inner;
            const bool has_state = a.size() > 3 && !a[3].is_none() &&
                                   !((a[3].is(kind::dict) && a[3].entries().empty()));
            node& n = pickle::make_object_node(nodes_, a[1].module(), a[1].name(), value::origin::subclass,
                                               pickle::make_tuple(nodes_, {inner}));
            if (has_state) n.state = a[3];
            return va::make_node(kind::object, &n);
        }
        case known::rebuild_device_tensor_from_numpy: {
            // (array, dtype, device, requires_grad): torch.from_numpy(array).to(dtype, device),
            // how torch saves tensors of XLA, ORT and other registered devices. Read as the
            // array's elements saved for that device; a dtype other than the array's would be
            // a conversion, so that call stays an object.
            need(4, "_rebuild_device_tensor_from_numpy");
            if (tag_of(a[0]) != known::numpy_array || !node_of(a[0])->state.is(kind::tensor)) break;
            if (tag_of(a[1]) != known::dtype_global || !a[2].is(kind::string)) break;
            const tensor& np = node_of(a[0])->state.as_tensor();
            if (np.dtype() != static_cast<dtype>(node_of(a[1])->aux)) break;
            tensor_flags flags;
            flags.requires_grad = arg_bool(3);
            charge_tensor(np.shape().size());
            return va::make_tensor(&tensors_.emplace_back(
                tensor_access::make(np.view(), location_text(a[2].as_string()), flags)));
        }
        case known::tensor_class:
            // torch.Tensor() (or torch.FloatTensor() …) that a BUILD makes a tensor: kept as
            // the call, tagged for build() to find.
            if (!a.empty() || fn.object_origin() != value::origin::global) break;
            {
                node& n = pickle::make_object_node(nodes_, fn.module(), fn.name(), value::origin::call, args_v);
                n.tag = known::tensor_class;
                n.aux = node_of(fn)->aux;
                return va::make_node(kind::object, &n);
            }
        case known::ordered_dict:
        case known::counter:
        case known::defaultdict: {
            auto& n = nodes_.make(kind::dict);
            n.name = node_text::kept(fn.class_name());  // the global's kept text
            if (!a.empty()) n.depth = depth_through(a[0]);  // keeps the unpickler's nesting cap honest
            if (tag_of(fn) != known::defaultdict && !a.empty()) {
                if (a[0].is(kind::dict)) {
                    nodes_.assign(n.entries, a[0].entries());
                } else if (a[0].is(kind::list) || a[0].is(kind::tuple)) {
                    for (const auto& pair : a[0].items()) {
                        if ((!pair.is(kind::tuple) && !pair.is(kind::list)) || pair.size() != 2)
                            fail(errc::bad_pickle, at, "OrderedDict built from an item that is not a pair");
                        nodes_.push(n.entries, value::entry(pair.items()[0], pair.items()[1]));
                    }
                }
            }
            return va::make_node(kind::dict, &n);
        }
        case known::torch_size:
            if (a.size() == 1 && (a[0].is(kind::tuple) || a[0].is(kind::list))) {
                value size = pickle::make_tuple(nodes_, {a[0].items().begin(), a[0].items().end()});
                nodes_.mut(size).name = "torch.Size";  // a tuple that remembers its class
                return size;
            }
            break;
        case known::codecs_encode:
            if (a.size() >= 1) {
                if (auto b = make_bytes_from(a[0], a.size() > 1 ? a[1] : value{}, at); !b.is_none()) return b;
            }
            break;
        case known::bytes_:  // protocol < 3 pickles b'' as __builtin__.bytes()
        case known::bytearray: {
            value b;
            if (a.empty()) b = pickle::make_string(nodes_, {}, kind::bytes);
            else if (a[0].is(kind::bytes)) b = pickle::make_string(nodes_, std::string(bytes_text(a[0])), kind::bytes);
            else if (a[0].is(kind::string)) b = make_bytes_from(a[0], a.size() > 1 ? a[1] : value{}, at);
            if (b.is_none()) break;
            nodes_.mut(b).name = node_text::kept(fn.class_name());
            return b;
        }
        case known::set:
        case known::frozenset: {
            auto& n = nodes_.make(kind::set);
            n.name = node_text::kept(fn.class_name());
            if (!a.empty() && (a[0].is(kind::list) || a[0].is(kind::tuple) || a[0].is(kind::set))) {
                nodes_.assign(n.items, a[0].items());
                n.depth = depth_through(a[0]);
            }
            return va::make_node(kind::set, &n);
        }
        case known::numpy_reconstruct:
        case known::numpy_dtype:
        case known::numpy_scalar:
            if (value v = numpy_reduce(fn, args_v, at); !v.is_none()) return v;
            break;
        case known::jit_container:  // (list,) or (container, 'Dict[str, float]'): the container
            if (!a.empty()) return a[0];
            break;
        case known::storage_ref:
            fail(errc::bad_pickle, at, "a storage called as a function");
        default: break;
    }
    // Anything else stays a call we did not make: its arguments keep inner tensors reachable.
    if (!fn.is(kind::object)) fail(errc::bad_pickle, at, "REDUCE of a " + std::string(to_string(fn.type())) + ", which is not callable");
    return pickle::make_object(nodes_, fn.module(), fn.name(), value::origin::call, args_v);
}

value rebuilder::instantiate(const value& cls, const value& args, std::uint64_t at) {
    if (!cls.is(kind::object)) fail(errc::bad_pickle, at, "NEWOBJ of a " + std::string(to_string(cls.type())) + ", which is not a class");
    const auto a = args.items();
    switch (tag_of(cls)) {
        case known::ordered_dict:
        case known::counter:
        case known::defaultdict: {
            auto& n = nodes_.make(kind::dict);
            n.name = node_text::kept(cls.class_name());
            return va::make_node(kind::dict, &n);
        }
        case known::set:
        case known::frozenset: return reduce(cls, args, at);
        case known::parameter_class:
            if (!a.empty() && a[0].is(kind::tensor))
                return as_parameter(a[0], a.size() > 1 && a[1].is(kind::boolean) ? a[1].as_bool() : true, at);
            break;
        default: break;
    }
    // A nested class (protocol 2 names Outer.Inner as getattr(Outer, "Inner")): the instance
    // is named by the class's qualified name.
    if (cls.object_origin() == value::origin::call && cls.module() == "builtins" && cls.name() == "getattr") {
        const auto g = cls.args().items();
        if (g.size() == 2 && g[0].is(kind::object) && g[0].object_origin() == value::origin::global &&
            g[1].is(kind::string))
            return pickle::make_object(nodes_, g[0].module(), std::string(g[0].name()) + "." + std::string(g[1].as_string()),
                                       value::origin::instance, args);
    }
    return pickle::make_object(nodes_, cls.module(), cls.name(), value::origin::instance, args);
}

void rebuilder::build(const value& target, const value& state, std::uint64_t at) {
    // BUILD on a class itself (not an instance) would set attributes of the class for every
    // later user of it; torch's weights_only loader builds only instances too.
    if (target.is(kind::object) && target.object_origin() == value::origin::global)
        fail(errc::unsafe_global, at,
             "BUILD on the global " + std::string(target.module()) + "." +
                 std::string(target.name()) + " itself, a class or function rather than an instance");
    // State is kept, never applied through code: objects and dicts (a state_dict's
    // `_metadata`) hold it; tensors ignore it (Python attributes on tensors).
    if (target.is(kind::object) || target.is(kind::dict)) nodes_.mut(target).state = state;
    if (tag_of(target) == known::numpy_array) numpy_build(target, state, at);
    if (tag_of(target) == known::tensor_class && target.object_origin() == value::origin::call)
        tensor_class_build(target, state, at);
}

// Tensor.__setstate__ of torch ≤ 0.3's pickles: (storage, offset, size, stride) is set_()
// onto the new tensor; a Variable's (data, _, backward_hooks, requires_grad, _) takes its
// data. The tensor is kept as the call's state, which the namer puts where the call was; any
// other state (requires_grad alone, on an empty tensor) stays an object's.
void rebuilder::tensor_class_build(const value& target, const value& state, std::uint64_t at) {
    if (!state.is(kind::tuple)) return;
    const auto s = state.items();
    value t;
    if (s.size() == 4 && is_storage_ref(s[0])) {
        t = tensor_from(s[0], std::nullopt, s[1], s[2], s[3], false, at);
        const auto aux = node_of(target)->aux;
        const dtype made = t.as_tensor().dtype();
        if (aux != unknown_dtype && static_cast<dtype>(aux) != made)
            fail(errc::bad_tensor, at, "Tensor.__setstate__ of a " + std::string(target.name()) +
                                           " onto a storage of " + std::string(name(made)) +
                                           ", which torch's set_() refuses");
    } else if (s.size() == 5) {
        // the data: a tensor, or an old torch.Tensor() call that BUILD made one
        const value& d = tag_of(s[0]) == known::tensor_class ? node_of(s[0])->state : s[0];
        if (!d.is(kind::tensor)) return;
        tensor_flags flags;
        flags.requires_grad = s[3].is(kind::boolean) && s[3].as_bool();
        const tensor& data = d.as_tensor();
        charge_tensor(data.shape().size());
        t = va::make_tensor(&tensors_.emplace_back(tensor_access::make(data.view(), data.location(), flags)));
    } else {
        return;
    }
    nodes_.mut(target).state = t;
}

}  // namespace ptio::detail::torch
