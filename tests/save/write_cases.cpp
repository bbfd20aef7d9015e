// ptio_write_cases OUTDIR [--zip64]
//
// Writes checkpoints with ptio::save, built with the public tree API, and OUTDIR/manifest.json
// saying what each one must hold. tests/save/writer_oracle.py then loads every file with
// real torch and compares. Storage bytes follow a formula the oracle recomputes on its own
// (pattern() below and in the script), so the check never trusts ptio's reader.
#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "ptio/ptio.hpp"

namespace fs = std::filesystem;
using ptio::dtype;
using ptio::tree;

namespace {

// Byte j of a storage with this seed; booleans keep only the low bit.
std::vector<std::byte> pattern(std::size_t nbytes, unsigned seed, bool boolean = false) {
    std::vector<std::byte> b(nbytes);
    for (std::size_t j = 0; j < nbytes; ++j) {
        unsigned v = static_cast<unsigned>((j * 131 + seed * 17 + 7) % 251);
        if (boolean) v &= 1;
        b[j] = static_cast<std::byte>(v);
    }
    return b;
}

std::string ints(const std::vector<std::int64_t>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}

std::string quote(std::string_view s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        o += c;
    }
    return o + "\"";
}

// One case's tensors, as the manifest describes them.
struct expected_tensor {
    std::vector<std::string> path;
    dtype type;
    std::vector<std::int64_t> shape, stride;
    std::int64_t offset;
    int storage;  // index among the case's storages
    bool requires_grad = false;
    bool parameter = false;
    bool meta = false;
};

struct storage_spec {
    unsigned seed;
    std::size_t nbytes;
    bool boolean;
    std::string location = "cpu";
};

struct case_file {
    std::string file;
    std::string expect;      // Python expression for the object, tensors as T
    std::string min_torch = "1.13";
    bool weights_only = false;
    bool crc = true;
    std::size_t alignment = 64;
    std::string prefix;      // expected top folder
    std::vector<storage_spec> storages{};
    std::vector<expected_tensor> tensors{};
    std::vector<std::pair<std::string, std::string>> same_object{};  // paths as Python subscripts
    std::string metadata{};  // expected obj._metadata, Python expression
};

class cases {
public:
    explicit cases(fs::path dir) : dir_(std::move(dir)) {}

    // A storage whose bytes follow pattern(seed); kept alive until the end.
    ptio::storage_ref storage(case_file& c, std::size_t nbytes, bool boolean = false) {
        const unsigned seed = static_cast<unsigned>(c.storages.size()) + 1;
        c.storages.push_back({seed, nbytes, boolean});
        keep_.push_back(pattern(nbytes, seed, boolean));
        return ptio::storage_ref::borrow(keep_.back());
    }

    tree tensor(case_file& c, std::vector<std::string> path, const ptio::storage_ref& s, int storage,
                dtype t, std::vector<std::int64_t> shape, std::vector<std::int64_t> stride,
                std::int64_t offset) {
        c.tensors.push_back({std::move(path), t, shape, stride, offset, storage});
        return tree::tensor(s, t, std::move(shape), std::move(stride), offset);
    }

    void write_manifest(const std::vector<case_file>& all) {
        std::ostringstream o;
        o << "{\"cases\": [\n";
        for (std::size_t k = 0; k < all.size(); ++k) {
            const auto& c = all[k];
            o << "  {\"file\": " << quote(c.file) << ", \"expect\": " << quote(c.expect)
              << ", \"min_torch\": " << quote(c.min_torch) << ", \"weights_only\": "
              << (c.weights_only ? "true" : "false") << ", \"crc\": " << (c.crc ? "true" : "false")
              << ", \"alignment\": " << c.alignment << ", \"prefix\": " << quote(c.prefix)
              << ", \"metadata\": " << quote(c.metadata) << ",\n   \"storages\": [";
            for (std::size_t i = 0; i < c.storages.size(); ++i)
                o << (i ? ", " : "") << "{\"seed\": " << c.storages[i].seed << ", \"nbytes\": "
                  << c.storages[i].nbytes << ", \"bool\": " << (c.storages[i].boolean ? "true" : "false")
                  << "}";
            o << "],\n   \"same_object\": [";
            for (std::size_t i = 0; i < c.same_object.size(); ++i)
                o << (i ? ", " : "") << "[" << quote(c.same_object[i].first) << ", "
                  << quote(c.same_object[i].second) << "]";
            o << "],\n   \"tensors\": [";
            for (std::size_t i = 0; i < c.tensors.size(); ++i) {
                const auto& t = c.tensors[i];
                o << (i ? ",\n     " : "\n     ") << "{\"path\": [";
                for (std::size_t p = 0; p < t.path.size(); ++p) o << (p ? ", " : "") << quote(t.path[p]);
                o << "], \"dtype\": " << quote(ptio::name(t.type)) << ", \"shape\": " << ints(t.shape)
                  << ", \"stride\": " << ints(t.stride) << ", \"storage_offset\": " << t.offset
                  << ", \"storage\": " << t.storage << ", \"requires_grad\": "
                  << (t.requires_grad ? "true" : "false") << ", \"parameter\": "
                  << (t.parameter ? "true" : "false") << ", \"meta\": " << (t.meta ? "true" : "false")
                  << "}";
            }
            o << "]}" << (k + 1 < all.size() ? "," : "") << "\n";
        }
        o << "]}\n";
        std::ofstream(dir_ / "manifest.json") << o.str();
    }

    fs::path path(const std::string& f) const { return dir_ / f; }

private:
    fs::path dir_;
    std::vector<std::vector<std::byte>> keep_;
};

// A model-like OrderedDict: every typed dtype, views sharing storages, a Parameter, and the
// `_metadata` state that state_dict() attaches. Loadable with torch 1.13's weights_only.
case_file state_dict_case(cases& cs) {
    case_file c{.file = "state_dict.pt", .expect = "", .weights_only = true, .prefix = "state_dict"};
    tree sd = tree::ordered_dict();
    std::string expect = "OrderedDict([";
    const dtype types[] = {dtype::float32, dtype::float64, dtype::float16, dtype::bfloat16,
                           dtype::int64,   dtype::int32,   dtype::int16,   dtype::int8,
                           dtype::uint8,   dtype::boolean, dtype::complex64, dtype::complex128};
    for (dtype t : types) {
        const std::string key = "w_" + std::string(ptio::name(t));
        auto s = cs.storage(c, 6 * ptio::element_size(t), t == dtype::boolean);
        sd.set(key, cs.tensor(c, {key}, s, static_cast<int>(c.storages.size()) - 1, t, {2, 3}, {3, 1}, 0));
        expect += "('" + key + "', T), ";
    }
    // Views of one float32 storage of 12 elements.
    auto base = cs.storage(c, 12 * 4);
    const int b = static_cast<int>(c.storages.size()) - 1;
    sd.set("base", cs.tensor(c, {"base"}, base, b, dtype::float32, {3, 4}, {4, 1}, 0));
    sd.set("base_t", cs.tensor(c, {"base_t"}, base, b, dtype::float32, {4, 3}, {1, 4}, 0));
    sd.set("row", cs.tensor(c, {"row"}, base, b, dtype::float32, {4}, {1}, 8));
    sd.set("scalar", cs.tensor(c, {"scalar"}, base, b, dtype::float32, {}, {}, 5));
    sd.set("empty", cs.tensor(c, {"empty"}, base, b, dtype::float32, {0, 4}, {4, 1}, 3));
    sd.set("expanded", cs.tensor(c, {"expanded"}, base, b, dtype::float32, {3, 4}, {0, 1}, 4));
    sd.set("column", cs.tensor(c, {"column"}, base, b, dtype::float32, {3}, {4}, 1));
    expect += "('base', T), ('base_t', T), ('row', T), ('scalar', T), ('empty', T), "
              "('expanded', T), ('column', T), ";
    // A Parameter and a tensor that requires grad.
    auto ps = cs.storage(c, 5 * 4);
    tree p = cs.tensor(c, {"param"}, ps, static_cast<int>(c.storages.size()) - 1, dtype::float32, {5}, {1}, 0);
    p.parameter().requires_grad();
    c.tensors.back().parameter = true;
    c.tensors.back().requires_grad = true;
    sd.set("param", p);
    auto gs = cs.storage(c, 4 * 8);
    tree g = cs.tensor(c, {"grad"}, gs, static_cast<int>(c.storages.size()) - 1, dtype::float64, {2, 2}, {2, 1}, 0);
    g.requires_grad();
    c.tensors.back().requires_grad = true;
    sd.set("grad", g);
    // Ints, big ints, strs, lists and tuples are in torch 1.13's weights_only set too.
    sd.set("step", 123456);
    sd.set("negative", -70000);
    sd.set("big", std::int64_t{1} << 40);
    sd.set("huge", tree::big_int("-1180591620717411303424"));
    sd.set("name", "tiny-transformer ✓");
    sd.set("flags", tree::list({true, false, nullptr}));
    sd.set("dims", tree::tuple({1, 2, 3, 4, 5}));
    sd.set("pair", tree::tuple({7, "x"}));
    expect += "('param', T), ('grad', T), ('step', 123456), ('negative', -70000), ('big', 2**40), "
              "('huge', -2**70), ('name', 'tiny-transformer ✓'), ('flags', [True, False, None]), "
              "('dims', (1, 2, 3, 4, 5)), ('pair', (7, 'x'))])";
    tree meta = tree::ordered_dict();
    tree root_meta = tree::dict();
    root_meta.set("version", 1);
    meta.set("", root_meta);
    sd.state(tree::dict().set("_metadata", meta));
    c.metadata = "OrderedDict([('', {'version': 1})])";
    c.expect = expect;
    ptio::save(sd, cs.path(c.file));
    return c;
}

// Every other kind of value torch.save writes for Python objects.
case_file values_case(cases& cs) {
    case_file c{.file = "values.pt", .expect = "", .prefix = "values"};
    const std::byte raw[] = {std::byte{0}, std::byte{0xFF}, std::byte{'a'}, std::byte{0x80}};
    tree d = tree::dict();
    d.set("float", 1.5);
    d.set("negzero", -0.0);
    d.set("tiny", 5e-324);
    d.set("bytes", tree::bytes(raw));
    d.set("bytearray", tree::bytearray(raw));
    d.set("set", tree::set({1, 2, 3}));
    d.set("frozenset", tree::frozenset({"a"}));
    d.set("complex", tree::call("builtins", "complex", tree::tuple({1.0, -2.5})));
    d.set("device", tree::call("torch", "device", tree::tuple({"cuda", 1})));
    d.set("dtype", tree::global("torch", "float16"));
    d.set("size", tree::call("torch", "Size", tree::tuple({tree::tuple({2, 3})})));
    d.set("u64", std::uint64_t{18446744073709551615u});
    d.set(1, "int key");
    d.set(tree::tuple({1, 2}), "tuple key");
    d.set(nullptr, tree::list());
    d.set("nested", tree::list({tree::dict(), tree::tuple(), tree::list({tree::list({tree::list()})})}));
    c.expect =
        "{'float': 1.5, 'negzero': -0.0, 'tiny': 5e-324, 'bytes': b'\\x00\\xffa\\x80', "
        "'bytearray': bytearray(b'\\x00\\xffa\\x80'), 'set': {1, 2, 3}, 'frozenset': frozenset({'a'}), "
        "'complex': complex(1.0, -2.5), 'device': torch.device('cuda', 1), 'dtype': torch.float16, "
        "'size': torch.Size([2, 3]), 'u64': 18446744073709551615, 1: 'int key', (1, 2): 'tuple key', "
        "None: [], 'nested': [{}, (), [[[]]]]}";
    ptio::save(d, cs.path(c.file));
    return c;
}

// One node in two places stays one object; 3000 entries need several SETITEMS batches and
// more than 256 memo slots.
case_file shared_case(cases& cs) {
    case_file c{.file = "shared.pt", .expect = "", .weights_only = true, .prefix = "shared"};
    tree root = tree::dict();
    auto s = cs.storage(c, 3000 * 2);
    tree items = tree::list();
    std::string expect = "{";
    for (int i = 0; i < 3000; ++i) {
        const std::string key = "t" + std::to_string(i);
        tree t = cs.tensor(c, {key}, s, 0, dtype::bfloat16, {1}, {1}, i);
        root.set(key, t);
        expect += "'" + key + "': T, ";
        if (i < 300) {
            items.append(t);  // the same tensor object again
            c.same_object.emplace_back("['" + key + "']", "['again'][" + std::to_string(i) + "]");
        }
    }
    root.set("again", items);
    root.set("again2", items);
    c.same_object.emplace_back("['again']", "['again2']");
    for (int i = 0; i < 300; ++i) c.tensors.push_back(c.tensors[static_cast<std::size_t>(i)]), c.tensors.back().path = {"again", std::to_string(i)};
    expect += "'again': [" + std::string() ;
    for (int i = 0; i < 300; ++i) expect += "T, ";
    expect += "], 'again2': [";
    for (int i = 0; i < 300; ++i) expect += "T, ";
    expect += "]}";
    for (int i = 0; i < 300; ++i) c.tensors.push_back(c.tensors[static_cast<std::size_t>(i)]), c.tensors.back().path = {"again2", std::to_string(i)};
    c.expect = expect;
    ptio::save(root, cs.path(c.file));
    return c;
}

// A meta tensor, an odd prefix and alignment, and CRCs off.
std::vector<case_file> option_cases(cases& cs) {
    std::vector<case_file> out;
    {
        case_file c{.file = "meta.pt", .expect = "{'m': T}", .weights_only = true, .prefix = "meta"};
        tree d = tree::dict();
        d.set("m", tree::meta_tensor(dtype::float16, {3, 5}));
        c.tensors.push_back({{"m"}, dtype::float16, {3, 5}, {5, 1}, 0, -1, false, false, true});
        ptio::save(d, cs.path(c.file));
        out.push_back(c);
    }
    {
        case_file c{.file = "aligned.pt", .expect = "{'x': T, 'y': T}", .weights_only = true,
                    .alignment = 4096, .prefix = "custom"};
        tree d = tree::dict();
        auto s1 = cs.storage(c, 10 * 8);
        auto s2 = cs.storage(c, 0);
        d.set("x", cs.tensor(c, {"x"}, s1, 0, dtype::int64, {10}, {1}, 0));
        d.set("y", cs.tensor(c, {"y"}, s2, 1, dtype::int64, {0}, {1}, 0));
        ptio::save(d, cs.path(c.file), {.prefix = "custom", .alignment = 4096});
        out.push_back(c);
    }
    {
        case_file c{.file = "nocrc.pt", .expect = "[T]", .weights_only = true, .crc = false, .prefix = "nocrc"};
        auto s = cs.storage(c, 64);
        tree l = tree::list({cs.tensor(c, {"0"}, s, 0, dtype::int32, {16}, {1}, 0)});
        ptio::save(l, cs.path(c.file), {.crc32 = false});
        out.push_back(c);
    }
    {
        // Written into memory: the prefix is "archive", as torch.save into a BytesIO.
        case_file c{.file = "buffer.pt", .expect = "T", .weights_only = true, .prefix = "archive"};
        auto s = cs.storage(c, 24);
        tree t = cs.tensor(c, {}, s, 0, dtype::int16, {3, 4}, {4, 1}, 0);
        const auto bytes = ptio::save(t);
        std::ofstream(cs.path(c.file), std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        out.push_back(c);
    }
    return out;
}

// dtypes with no typed storage class: _rebuild_tensor_v3 with an UntypedStorage (torch ≥ 2.1).
case_file v3_case(cases& cs) {
    case_file c{.file = "v3.pt", .expect = "", .min_torch = "2.3", .weights_only = true, .prefix = "v3"};
    tree d = tree::ordered_dict();
    std::string expect = "OrderedDict([";
    const dtype types[] = {dtype::uint16, dtype::uint32, dtype::uint64, dtype::float8_e4m3fn,
                           dtype::float8_e5m2, dtype::complex32};
    for (dtype t : types) {
        const std::string key{ptio::name(t)};
        auto s = cs.storage(c, 8 * ptio::element_size(t));
        d.set(key, cs.tensor(c, {key}, s, static_cast<int>(c.storages.size()) - 1, t, {2, 4}, {4, 1}, 0));
        expect += "('" + key + "', T), ";
    }
    c.expect = expect + "])";
    ptio::save(d, cs.path(c.file));
    return c;
}

// ZIP64: one record over 4 GiB (zero pages of an anonymous mapping, which cost no memory),
// and a record after it whose header offset passes 4 GiB.
case_file zip64_case(cases& cs) {
    case_file c{.file = "zip64.pt", .expect = "{'small': T, 'big': T, 'after': T}", .prefix = "zip64"};
    const std::size_t big = 4'400'000'000;
    void* p = ::mmap(nullptr, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap of 4.4 GB failed");
    auto* bytes = static_cast<std::byte*>(p);
    bytes[big - 1] = std::byte{42};  // one non-zero byte at the very end
    tree d = tree::dict();
    auto s1 = cs.storage(c, 40);
    d.set("small", cs.tensor(c, {"small"}, s1, 0, dtype::float32, {10}, {1}, 0));
    c.storages.push_back({0, big, false});  // seed 0: zeros but the last byte, see the oracle
    d.set("big", tree::tensor(ptio::storage_ref::borrow({bytes, big}), dtype::uint8,
                              {static_cast<std::int64_t>(big)}, {1}, 0));
    c.tensors.push_back({{"big"}, dtype::uint8, {static_cast<std::int64_t>(big)}, {1}, 0, 1});
    auto s3 = cs.storage(c, 80);
    d.set("after", cs.tensor(c, {"after"}, s3, 2, dtype::int64, {10}, {1}, 0));
    const auto stats = ptio::save(d, cs.path(c.file));
    ::munmap(p, big);
    if (!stats.zip64) throw std::runtime_error("zip64.pt was written without ZIP64 fields");
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: ptio_write_cases OUTDIR [--zip64]\n";
        return 2;
    }
    const bool zip64 = argc > 2 && std::string_view(argv[2]) == "--zip64";
    try {
        fs::create_directories(argv[1]);
        cases cs(argv[1]);
        std::vector<case_file> all;
        if (zip64) {
            all.push_back(zip64_case(cs));
        } else {
            all.push_back(state_dict_case(cs));
            all.push_back(values_case(cs));
            all.push_back(shared_case(cs));
            for (auto& c : option_cases(cs)) all.push_back(std::move(c));
            all.push_back(v3_case(cs));
        }
        cs.write_manifest(all);
        std::cout << "wrote " << all.size() << " checkpoints into " << argv[1] << "\n";
    } catch (const std::exception& e) {
        std::cerr << "ptio_write_cases: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
