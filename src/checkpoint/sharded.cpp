// Reading a Hugging Face index and opening its shards on demand. The index is untrusted
// JSON: its size and nesting are capped, and every shard it names must sit beside it.
#include "checkpoint/sharded.hpp"

#include <algorithm>
#include <new>

#include <nlohmann/json.hpp>

#include "checkpoint/sniff.hpp"
#include "checkpoint/tensor_lister.hpp"
#include "io/mapped_file.hpp"

namespace ptio::detail {

namespace {

// Real indexes are tens to hundreds of KB; this only stops a hostile file from growing the
// parsed tree without bound.
constexpr std::size_t max_index_bytes = std::size_t{256} << 20;

constexpr std::string_view bin_index_suffix = ".bin.index.json";

[[noreturn]] void bad_index(const std::string& index, const std::string& why) {
    throw error(errc::not_a_checkpoint, index, {}, std::nullopt, why);
}

// A shard must be a file beside the index: no directory part, no "." or "..".
bool plain_file_name(std::string_view s) {
    return !s.empty() && s != "." && s != ".." && s.find('/') == std::string_view::npos &&
           s.find('\0') == std::string_view::npos;
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// nlohmann's message without its "[json.exception.…] " tag and the "; last read: '…'" tail.
std::string json_why(const nlohmann::json::exception& e) {
    std::string why = e.what();
    if (const auto cut = why.find("; last read"); cut != std::string::npos) why.erase(cut);
    if (const auto cut = why.find("] "); cut != std::string::npos) why.erase(0, cut + 2);
    return why;
}

// Where a JSON failure lies: a parse error knows its byte; any other (a number that
// overflows a double: "number overflow parsing '1e999'") names its token, found in the text.
std::optional<std::uint64_t> json_offset(const nlohmann::json::exception& e, std::string_view text) {
    if (const auto* p = dynamic_cast<const nlohmann::json::parse_error*>(&e))
        return p->byte ? p->byte - 1 : 0;
    const std::string why = e.what();
    const auto open = why.find("parsing '");
    const auto close = open == std::string::npos ? open : why.rfind('\'');
    if (close == std::string::npos || close <= open + 9) return std::nullopt;
    const auto at = text.find(std::string_view(why).substr(open + 9, close - open - 9));
    if (at == std::string_view::npos) return std::nullopt;
    return at;
}

}  // namespace

std::filesystem::path sharded_source::index_of(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_directory(path, ec)) return path;
    std::vector<std::string> found;
    for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.ends_with(bin_index_suffix) && it->is_regular_file(ec)) found.push_back(name);
    }
    if (ec)
        throw error(errc::io_error, path.string(), {}, std::nullopt,
                    "cannot list the directory: " + ec.message());
    if (found.empty())
        throw error(errc::io_error, path.string(), {}, std::nullopt,
                    "is a directory, not a checkpoint file, and holds no Hugging Face index "
                    "(*.bin.index.json)");
    if (found.size() > 1) {
        std::sort(found.begin(), found.end());
        std::string list;
        for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
        throw error(errc::invalid_argument, path.string(), {}, std::nullopt,
                    "holds several Hugging Face indexes (" + list + "): open one of them");
    }
    return path / found.front();
}

sharded_source::sharded_source(const std::filesystem::path& index, const open_options& options)
    : checkpoint_source(options), index_(index.string()) {
    const mapped_file map = mapped_file::map(index);
    if (map.size() > max_index_bytes)
        throw error(errc::limit_exceeded, index_, {}, std::nullopt,
                    "the index is " + std::to_string(map.size()) + " bytes, over the cap of " +
                        std::to_string(max_index_bytes));
    const auto* text = reinterpret_cast<const char*>(map.bytes().data());
    // Nesting is capped as for pickles: the parser and the tree's destructor recurse.
    struct too_deep {};
    const auto depth_cap = [cap = options.caps.max_depth](int depth, nlohmann::ordered_json::parse_event_t,
                                                        nlohmann::ordered_json&) {
        if (static_cast<std::size_t>(depth) > cap) throw too_deep{};
        return true;
    };
    nlohmann::ordered_json j;  // ordered: tensors are listed in the index's order
    try {
        j = nlohmann::ordered_json::parse(text, text + map.size(), depth_cap);
    } catch (const nlohmann::json::exception& e) {
        // Every failure the library can raise from the text (parse errors, and numbers
        // past a double's range, which it reports as out_of_range) is the file's.
        throw error(errc::not_a_checkpoint, index_, {}, json_offset(e, {text, map.size()}),
                    "not a valid JSON index: " + json_why(e));
    } catch (const too_deep&) {
        throw error(errc::limit_exceeded, index_, {}, std::nullopt,
                    "the index nests deeper than the cap of " + std::to_string(options.caps.max_depth));
    } catch (const std::bad_alloc&) {
        throw error(errc::limit_exceeded, index_, {}, std::nullopt, "out of memory reading the index");
    }
    if (!j.is_object()) bad_index(index_, std::string("the index is a JSON ") + j.type_name() + ", not an object");
    const auto wm = j.find("weight_map");
    if (wm == j.end()) bad_index(index_, "the index has no \"weight_map\"");
    if (!wm->is_object())
        bad_index(index_, std::string("\"weight_map\" is a JSON ") + wm->type_name() +
                              ", not an object of tensor name → shard file");

    try {
        read_weight_map(index.parent_path(), *wm);
    } catch (const nlohmann::json::exception& e) {  // none is expected past parsing: a backstop
        throw error(errc::not_a_checkpoint, index_, {}, std::nullopt,
                    "the index's \"weight_map\" cannot be read: " + json_why(e));
    } catch (const std::bad_alloc&) {
        throw error(errc::limit_exceeded, index_, {}, std::nullopt,
                    "out of memory reading the index's \"weight_map\"");
    }
}

void sharded_source::read_weight_map(const std::filesystem::path& dir,
                                     const nlohmann::ordered_json& wm) {
    std::unordered_map<std::string, std::size_t> shard_by_file;
    named_.reserve(wm.size());
    shard_of_.reserve(wm.size());
    for (const auto& [name, file] : wm.items()) {
        if (!file.is_string())
            bad_index(index_, "\"weight_map\" gives " + in_quotes(name) + " a JSON " + file.type_name() +
                                  ", not a shard file name");
        const auto& f = file.get_ref<const std::string&>();
        if (!plain_file_name(f))
            bad_index(index_, "\"weight_map\" puts " + in_quotes(name) + " in " + in_quotes(f) +
                                  ", which is not a file name beside the index (refused: it "
                                  "could name a file elsewhere)");
        const auto [it, fresh] = shard_by_file.try_emplace(f, shards_.size());
        if (fresh) shards_.emplace_back().path = (dir / f).string();
        shards_[it->second].names.push_back(named_.size());
        shard_of_.push_back(it->second);
        named_.emplace_back().name = name_texts_.keep(name);
    }
    // Each name is one key: its path is a view of itself. An empty name ("" in the map) is
    // a path of one empty key, kept as such.
    for (named_tensor& nt : named_)
        if (nt.name.empty()) nt.path = name_texts_.keep_views(std::span(&nt.name, 1));
    settle_single_paths(named_);
    by_name_.build(named_);  // here, so shard_of() can be noexcept
}

std::vector<std::string> sharded_source::shard_files() const {
    std::vector<std::string> out;
    out.reserve(shards_.size());
    for (const shard& s : shards_) out.push_back(s.path);
    std::sort(out.begin(), out.end());  // -00001-of-…, -00002-of-…
    return out;
}

std::string_view sharded_source::shard_of(std::string_view name) const noexcept {
    const auto i = by_name_.position(name);
    return i ? std::string_view(shards_[shard_of_[*i]].path) : std::string_view();
}

const file_source& sharded_source::open_shard(std::size_t s, std::size_t wanted) const {
    shard& sh = shards_[s];
    std::call_once(sh.once, [&] {
        std::error_code ec;
        if (!std::filesystem::exists(sh.path, ec))
            throw error(errc::missing_record, sh.path, {}, std::nullopt,
                        "the shard that holds " + in_quotes(named_[wanted].name) + " (listed in " +
                            index_ + ") is missing");
        // Read as a sharded checkpoint of its own, an index naming itself (or a link to its
        // directory) would recurse without end; as a file it would fail less clearly.
        if (is_index(sh.path))
            throw error(errc::not_a_checkpoint, sh.path, {}, std::nullopt,
                        "is a directory or an index (listed in " + index_ +
                            " as the shard that holds " + in_quotes(named_[wanted].name) +
                            "), not a torch.save file");
        sh.src = file_source::open(sh.path, options());
        for (const std::size_t i : sh.names) {
            const named_tensor* t = sh.src->find(named_[i].name);
            named_[i].tensor = t ? t->tensor : nullptr;
        }
    });
    return *sh.src;
}

error sharded_source::not_held(std::size_t i) const {
    return error(errc::not_found, shards_[shard_of_[i]].path, {}, std::nullopt,
                 "holds no tensor named " + in_quotes(named_[i].name) + ", which " + index_ +
                     " puts in it");
}

const named_tensor* sharded_source::find_listed(std::string_view name) const {
    const auto at = by_name_.position(name);
    if (!at) return nullptr;
    const std::size_t i = *at;
    open_shard(shard_of_[i], i);
    if (!named_[i].tensor) throw not_held(i);
    return &named_[i];
}

std::span<const named_tensor> sharded_source::tensors() const {
    std::call_once(all_once_, [this] {
        for (std::size_t s = 0; s < shards_.size(); ++s) open_shard(s, shards_[s].names.front());
        for (std::size_t i = 0; i < named_.size(); ++i)
            if (!named_[i].tensor) throw not_held(i);
        node& d = nodes_.make(kind::dict);
        d.name = "dict";
        d.depth = named_.empty() ? 0 : 1;
        for (const named_tensor& nt : named_) {
            node& key = nodes_.make(kind::string);
            key.text = node_text::kept(nt.name);  // named_ lives as long as the tree
            nodes_.push(d.entries, value::entry(value_access::make_node(kind::string, &key),
                                                value_access::make_tensor(nt.tensor)));
        }
        root_ = value_access::make_node(kind::dict, &d);
    });
    return named_;
}

const value& sharded_source::root() const {
    (void)tensors();
    return root_;
}

std::span<const global_ref> sharded_source::globals() const {
    std::call_once(globals_once_, [this] {
        (void)tensors();
        std::vector<global_ref> all;
        for (const shard& s : shards_)
            for (const global_ref& g : s.src->globals()) all.push_back(g);
        globals_ = std::move(all);
    });
    return globals_;
}

std::size_t sharded_source::verify(const std::function<void(const error&)>& problem) const {
    std::size_t count = 0;
    const auto report = [&](const error& e) {
        ++count;
        if (problem) problem(e);
    };
    for (std::size_t s = 0; s < shards_.size(); ++s) {
        try {
            count += open_shard(s, shards_[s].names.front()).verify(problem);
        } catch (const error& e) {
            report(e);
            continue;
        }
        for (const std::size_t i : shards_[s].names)
            if (!named_[i].tensor) report(not_held(i));
    }
    return count;
}

}  // namespace ptio::detail
