// The torch layer of ptio::save: a tree becomes data.pkl and the storage records
//, and the zip writer puts them in a file or a buffer.
#include "ptio/save.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "pickle/pickler.hpp"
#include "ptio/error.hpp"
#include "torch/globals.hpp"
#include "torch/storage.hpp"
#include "save/tree_node.hpp"
#include "zip/writer.hpp"

namespace ptio {
namespace {

using detail::tree_node;

[[noreturn]] void invalid(const std::string& what) { throw error(errc::invalid_argument, what); }

constexpr std::size_t max_depth = 1000;
constexpr std::size_t batch = 1000;  // APPENDS / SETITEMS batches, as CPython's pickler

bool is_quantized(dtype t) noexcept {
    return t == dtype::qint8 || t == dtype::quint8 || t == dtype::qint32 || t == dtype::quint4x2 ||
           t == dtype::quint2x4;
}

// --- the pickle -------------------------------------------------------------------------------

struct storage_slot {
    std::shared_ptr<const detail::save_storage> source;
    dtype elem;        // the dtype every tensor viewing it has
    bool untyped;      // persisted as UntypedStorage (v3 dtypes)
};

class tree_pickler {
public:
    explicit tree_pickler(const tree& root) { count(detail::node_of(root), 0); }

    std::vector<std::byte> run(const tree& root) {
        emit(detail::node_of(root));
        return p_.finish();
    }

    std::vector<storage_slot> storages;
    std::size_t tensors = 0;

private:
    // Each node's number of references, so that only shared nodes are memoised; a node met
    // again while it is being counted is a cycle.
    void count(const tree_node& n, std::size_t depth) {
        if (depth > max_depth) invalid("save: more than 1000 levels of nesting");
        if (on_path_.contains(&n)) invalid("save: the tree contains itself (a cycle)");
        if (++refs_[&n] > 1) return;
        on_path_.insert(&n);
        for (const auto& i : n.items) count(detail::node_of(i), depth + 1);
        for (const auto& [k, v] : n.entries) {
            count(detail::node_of(k), depth + 1);
            count(detail::node_of(v), depth + 1);
        }
        if (n.state) count(*n.state, depth + 1);
        if (n.args) count(*n.args, depth + 1);
        on_path_.erase(&n);
    }

    void emit(const tree_node& n) {
        const bool shared = refs_[&n] > 1;
        if (shared)
            if (auto it = memo_.find(&n); it != memo_.end()) {
                p_.get(it->second);
                return;
            }
        emit_fresh(n);
        if (shared) memo_.emplace(&n, p_.put());
    }

    void emit_items(const std::vector<tree>& items) {
        for (std::size_t at = 0; at < items.size(); at += batch) {
            const std::size_t end = std::min(items.size(), at + batch);
            if (end - at == 1) {
                emit(detail::node_of(items[at]));
                p_.append();
                continue;
            }
            p_.mark();
            for (std::size_t i = at; i < end; ++i) emit(detail::node_of(items[i]));
            p_.appends();
        }
    }

    void emit_entries(const std::vector<std::pair<tree, tree>>& entries) {
        for (std::size_t at = 0; at < entries.size(); at += batch) {
            const std::size_t end = std::min(entries.size(), at + batch);
            if (end - at == 1) {
                emit(detail::node_of(entries[at].first));
                emit(detail::node_of(entries[at].second));
                p_.setitem();
                continue;
            }
            p_.mark();
            for (std::size_t i = at; i < end; ++i) {
                emit(detail::node_of(entries[i].first));
                emit(detail::node_of(entries[i].second));
            }
            p_.setitems();
        }
    }

    void emit_tuple(const std::vector<tree>& items) {
        if (items.size() <= 3) {
            for (const auto& i : items) emit(detail::node_of(i));
            p_.tuple_small(items.size());
            return;
        }
        p_.mark();
        for (const auto& i : items) emit(detail::node_of(i));
        p_.tuple_from_mark();
    }

    void emit_ints(const std::vector<std::int64_t>& v) {
        if (v.size() > 3) p_.mark();
        for (auto x : v) p_.integer(x);
        if (v.size() > 3)
            p_.tuple_from_mark();
        else
            p_.tuple_small(v.size());
    }

    // bytes in protocol 2: _codecs.encode(latin-1 text, "latin1"), as CPython writes them.
    void emit_bytes(const std::string& b) {
        p_.global("_codecs", "encode");
        std::string text;
        text.reserve(b.size() + b.size() / 4);
        for (unsigned char c : b) {
            if (c < 0x80) {
                text.push_back(static_cast<char>(c));
            } else {
                text.push_back(static_cast<char>(0xC0 | (c >> 6)));
                text.push_back(static_cast<char>(0x80 | (c & 0x3F)));
            }
        }
        p_.string(text);
        p_.string("latin1");
        p_.tuple_small(2);
        p_.reduce();
    }

    void emit_global(const std::string& module, const std::string& name) {
        const auto info = detail::torch::classify(module, name);
        if (info.unsafe)
            throw error(errc::unsafe_global, "save: refusing to write the global " + module + "." +
                                                 name + ", which runs code when torch.load reads it");
        p_.global(module, name);
    }

    void emit_fresh(const tree_node& n) {
        switch (n.type) {
            case kind::none: p_.none(); return;
            case kind::boolean: p_.boolean(n.b); return;
            case kind::integer: p_.integer(n.i); return;
            case kind::big_integer:
                p_.long_bytes({reinterpret_cast<const std::byte*>(n.text.data()), n.text.size()});
                return;
            case kind::floating: p_.floating(n.f); return;
            case kind::string: p_.string(n.text); return;
            case kind::bytes:
                if (n.bytearray) {
                    p_.global("builtins", "bytearray");
                    emit_bytes(n.text);
                    p_.tuple_small(1);
                    p_.reduce();
                } else {
                    emit_bytes(n.text);
                }
                return;
            case kind::list:
                p_.empty_list();
                emit_items(n.items);
                return;
            case kind::tuple: emit_tuple(n.items); return;
            case kind::set:
                p_.global("builtins", n.frozen ? "frozenset" : "set");
                p_.empty_list();
                emit_items(n.items);
                p_.tuple_small(1);
                p_.reduce();
                return;
            case kind::dict: emit_dict(n); return;
            case kind::tensor: emit_tensor(n); return;
            case kind::object: emit_object(n); return;
        }
        invalid("save: a node of unknown kind");
    }

    void emit_dict(const tree_node& n) {
        switch (n.dict) {
            case detail::dict_class::dict:
                p_.empty_dict();
                emit_entries(n.entries);
                break;
            case detail::dict_class::ordered_dict:
                p_.global("collections", "OrderedDict");
                p_.empty_tuple();
                p_.reduce();
                emit_entries(n.entries);
                break;
            case detail::dict_class::counter:
                p_.global("collections", "Counter");
                p_.empty_dict();
                emit_entries(n.entries);
                p_.tuple_small(1);
                p_.reduce();
                break;
            case detail::dict_class::defaultdict:  // the factory was not kept: None
                p_.global("collections", "defaultdict");
                p_.none();
                p_.tuple_small(1);
                p_.reduce();
                emit_entries(n.entries);
                break;
        }
        if (n.state) {
            emit(*n.state);
            p_.build();
        }
    }

    void emit_object(const tree_node& n) {
        emit_global(n.module, n.name);
        if (n.origin != value::origin::global) {
            if (!n.args || n.args->type != kind::tuple)
                invalid("save: the object " + n.module + "." + n.name + " has no argument tuple");
            emit(*n.args);
            if (n.origin == value::origin::call)
                p_.reduce();
            else
                p_.newobj();
        }
        if (!n.items.empty()) emit_items(n.items);
        if (!n.entries.empty()) emit_entries(n.entries);
        if (n.state) {
            emit(*n.state);
            p_.build();
        }
    }

    void emit_tensor(const tree_node& n) {
        ++tensors;
        if (is_quantized(n.elem))
            invalid("save: quantized tensors (" + std::string(name(n.elem)) +
                    ") need their quantizer, which ptio does not write");
        if (n.parameter) p_.global("torch._utils", "_rebuild_parameter");
        if (!n.storage) {
            p_.global("torch._utils", "_rebuild_meta_tensor_no_storage");
            p_.mark();
            emit_dtype(n.elem);
            emit_ints(n.shape);
            emit_ints(n.strides);
            p_.boolean(n.parameter ? false : n.requires_grad);
            p_.tuple_from_mark();
            p_.reduce();
        } else {
            const bool v3 = storage_class(n.elem).empty();
            p_.global("torch._utils", v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2");
            p_.mark();
            emit_storage(n);
            p_.integer(n.offset);
            emit_ints(n.shape);
            emit_ints(n.strides);
            // A Parameter's inner tensor is saved without grad; the Parameter carries it.
            p_.boolean(n.parameter ? false : n.requires_grad);
            p_.global("collections", "OrderedDict");  // backward hooks: always empty
            p_.empty_tuple();
            p_.reduce();
            if (v3) emit_dtype(n.elem);
            if (n.conj || n.neg) {  // torch ≥ 2.0's metadata argument, only when needed
                p_.empty_dict();
                p_.mark();
                if (n.conj) {
                    p_.string("conj");
                    p_.boolean(true);
                }
                if (n.neg) {
                    p_.string("neg");
                    p_.boolean(true);
                }
                p_.setitems();
            }
            p_.tuple_from_mark();
            p_.reduce();
        }
        if (n.parameter) {
            p_.boolean(n.requires_grad);
            p_.global("collections", "OrderedDict");
            p_.empty_tuple();
            p_.reduce();
            p_.tuple_small(3);
            p_.reduce();
        }
    }

    void emit_dtype(dtype t) { p_.global("torch", std::string(name(t))); }

    void emit_storage(const tree_node& n) {
        const auto& s = *n.storage;
        const bool untyped = storage_class(n.elem).empty();
        auto [it, fresh] = slots_.emplace(s.identity, storages.size());
        if (fresh) {
            storages.push_back({n.storage, n.elem, untyped});
        } else if (storages[it->second].elem != n.elem) {
            invalid("save: one storage is viewed as " + std::string(name(storages[it->second].elem)) +
                    " and as " + std::string(name(n.elem)) + "; torch.save refuses that too");
        }
        const auto& slot = storages[it->second];
        const std::size_t elem = untyped ? 1 : element_size(slot.elem);
        if (slot.source->nbytes % elem != 0)
            invalid("save: a " + std::string(name(slot.elem)) + " storage of " +
                    std::to_string(slot.source->nbytes) + " bytes is not a whole number of elements");
        p_.mark();
        p_.string("storage");
        if (untyped)
            p_.global("torch.storage", "UntypedStorage");
        else
            p_.global("torch", std::string(storage_class(slot.elem)));
        p_.string(std::to_string(it->second));
        p_.string(slot.source->location);
        p_.integer(static_cast<std::int64_t>(slot.source->nbytes / elem));
        p_.tuple_from_mark();
        p_.binpersid();
    }

    detail::pickle::pickler p_;
    std::unordered_map<const tree_node*, std::size_t> refs_;
    std::unordered_set<const tree_node*> on_path_;
    std::unordered_map<const tree_node*, std::uint32_t> memo_;
    std::unordered_map<const void*, std::size_t> slots_;
};

// --- sinks ------------------------------------------------------------------------------------

class buffer_sink final : public detail::zip::sink {
public:
    void write(std::span<const std::byte> b) override { out.insert(out.end(), b.begin(), b.end()); }
    [[nodiscard]] std::uint64_t position() const noexcept override { return out.size(); }
    std::vector<std::byte> out;
};

// Writes to a temporary file beside the destination; commit() renames it into place, and the
// destructor removes it if commit never came.
class file_sink final : public detail::zip::sink {
public:
    explicit file_sink(std::filesystem::path dst) : dst_(std::move(dst)) {
        std::random_device rd;
        tmp_ = dst_;
        tmp_ += ".ptio-tmp-" + std::to_string(rd());
        fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd_ < 0) fail("cannot create " + tmp_.string(), 0);
        buf_.reserve(buf_cap);
    }
    ~file_sink() override {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(tmp_.c_str());
    }
    file_sink(const file_sink&) = delete;
    file_sink& operator=(const file_sink&) = delete;

    void write(std::span<const std::byte> b) override {
        if (b.size() >= buf_cap) {
            flush();
            put(b);
        } else {
            if (buf_.size() + b.size() > buf_cap) flush();
            buf_.insert(buf_.end(), b.begin(), b.end());
        }
        pos_ += b.size();
    }
    [[nodiscard]] std::uint64_t position() const noexcept override { return pos_; }

    void commit(bool sync) {
        flush();
        if (sync && ::fsync(fd_) != 0) fail("fsync failed", pos_);
        if (::close(fd_) != 0) {
            fd_ = -1;
            fail("close failed", pos_);
        }
        fd_ = -1;
        if (::rename(tmp_.c_str(), dst_.c_str()) != 0) fail("cannot rename the finished file into place", pos_);
        committed_ = true;
    }

private:
    static constexpr std::size_t buf_cap = std::size_t{1} << 20;

    void flush() {
        put(buf_);
        buf_.clear();
    }
    void put(std::span<const std::byte> b) {
        const std::byte* p = b.data();
        std::size_t left = b.size();
        while (left > 0) {
            const ssize_t n = ::write(fd_, p, std::min<std::size_t>(left, std::size_t{1} << 30));
            if (n < 0) {
                if (errno == EINTR) continue;
                fail(std::string("write failed: ") + std::strerror(errno), written_);
            }
            p += n;
            left -= static_cast<std::size_t>(n);
            written_ += static_cast<std::uint64_t>(n);
        }
    }
    [[noreturn]] void fail(const std::string& what, std::uint64_t offset) {
        const int e = errno;
        throw error(errc::io_error, dst_.string(), "", offset,
                    what + (e != 0 && what.find(':') == std::string::npos ? std::string(": ") + std::strerror(e) : ""));
    }

    std::filesystem::path dst_, tmp_;
    int fd_ = -1;
    std::vector<std::byte> buf_;
    std::uint64_t pos_ = 0;      // bytes handed to write()
    std::uint64_t written_ = 0;  // bytes the file has
    bool committed_ = false;
};

// --- records ----------------------------------------------------------------------------------

unsigned crc_threads(const save_options& o) {
    if (o.crc_threads != 0) return o.crc_threads;
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    return std::min(4u, std::max(1u, hw - 1));
}

std::string stem_prefix(const std::filesystem::path& p) {
    // torch's basename rule: the file name with its last extension removed.
    std::string name = p.filename().string();
    if (auto dot = name.rfind('.'); dot != std::string::npos) name.resize(dot);
    // Non-ASCII paths: torch hands Python a stream, so the prefix is "archive".
    const bool ascii = std::all_of(name.begin(), name.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    return name.empty() || !ascii ? "archive" : name;
}

save_stats write_archive(const tree& root, detail::zip::sink& out, std::string prefix,
                         const save_options& o) {
    tree_pickler pickler(root);
    const std::vector<std::byte> pkl = pickler.run(root);

    detail::zip::writer zw(out, std::move(prefix), {o.alignment, o.crc32, o.crc32 ? crc_threads(o) : 0});
    auto text = [](std::string_view s) {
        return std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size());
    };
    zw.add("data.pkl", pkl);
    zw.add(".format_version", text("1"));  // 1: storages in numeric key order
    const std::string alignment = std::to_string(o.alignment);
    zw.add(".storage_alignment", text(alignment));
    zw.add("byteorder", text(std::endian::native == std::endian::little ? "little" : "big"));

    save_stats stats;
    stats.tensors = pickler.tensors;
    stats.storages = pickler.storages.size();
    std::vector<std::byte> host;  // storages read through a storage_reader land here
    for (std::size_t k = 0; k < pickler.storages.size(); ++k) {
        const auto& s = *pickler.storages[k].source;
        std::span<const std::byte> bytes;
        if (s.checkpoint != nullptr) {
            bytes = s.checkpoint->bytes().first(static_cast<std::size_t>(s.nbytes));
        } else if (s.read) {
            host.resize(static_cast<std::size_t>(s.nbytes));
            s.read(host);
            bytes = host;
        } else {
            bytes = s.borrowed;
        }
        zw.add("data/" + std::to_string(k), bytes);
        stats.storage_bytes += bytes.size();
    }
    zw.add("version", text("3\n"));
    zw.finish();
    stats.file_bytes = out.position();
    stats.zip64 = zw.used_zip64();
    return stats;
}

}  // namespace

save_stats save(const tree& root, const std::filesystem::path& path, const save_options& options) {
    file_sink out(path);
    save_stats stats = write_archive(root, out, options.prefix.empty() ? stem_prefix(path) : options.prefix, options);
    out.commit(options.sync);
    return stats;
}

std::vector<std::byte> save(const tree& root, const save_options& options) {
    buffer_sink out;
    (void)write_archive(root, out, options.prefix.empty() ? "archive" : options.prefix, options);
    return std::move(out.out);
}

}  // namespace ptio
