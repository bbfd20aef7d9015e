// Hugging Face sharded checkpoints (tests/fixtures/make_sharded.py, run by ctest as the
// fixtures.sharded setup test into PTIO_SHARDED_DIR).
//
// torch_oracle.py (oracle.sharded) compares every tensor of both fixtures, by index and by
// directory, with the state_dict torch saved. These tests check what it cannot see: that
// each tensor is its shard's own (same bytes, tied weights one object), that shards open
// lazily and only when needed, and how broken indexes and missing shards fail.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

#include <ptio/ptio.hpp>

#include "support/staging_support.hpp"
#include "support/names.hpp"

using namespace ptio_test;

namespace {

namespace fs = std::filesystem;

const fs::path hf_dir = fs::path(PTIO_SHARDED_DIR) / "hf";
const fs::path hf_index = hf_dir / "pytorch_model.bin.index.json";

// A fresh copy of the hf fixture (index and shards) that a test may break.
struct scratch {
    fs::path dir;
    explicit scratch(std::string_view name) {
        REQUIRE_MESSAGE(fs::exists(hf_index), "run the fixtures.sharded test first");
        dir = fs::temp_directory_path() /
              ("ptio_sharded_" + std::string(name) + "_" + std::to_string(::getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir);
        for (const auto& e : fs::directory_iterator(hf_dir)) fs::copy_file(e.path(), dir / e.path().filename());
    }
    ~scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    [[nodiscard]] fs::path index() const { return dir / hf_index.filename(); }
};

void write_text(const fs::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    REQUIRE(out.good());
    out << text;
}


// Whether `file` is mapped into this process now (Linux: /proc/self/maps).
bool is_mapped(const fs::path& file) {
    const std::string want = fs::canonical(file).string();
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);)
        if (line.size() >= want.size() && line.compare(line.size() - want.size(), want.size(), want) == 0)
            return true;
    return false;
}

}  // namespace

TEST_CASE("sharded: an index and its directory open as one checkpoint of the shards' tensors") {
    REQUIRE_MESSAGE(fs::exists(hf_index), "run the fixtures.sharded test first");
    const ptio::checkpoint by_index = ptio::checkpoint::open(hf_index);
    const ptio::checkpoint by_dir = ptio::checkpoint::open(hf_dir);
    CHECK(by_index.format() == "sharded");
    CHECK(by_dir.format() == "sharded");
    CHECK(by_index.file() == hf_index.string());
    CHECK(by_dir.file() == hf_index.string());  // the index found in the directory
    CHECK(by_index.byteorder() == "little");
    CHECK(by_index.prefix().empty());
    CHECK(by_index.records().empty());

    const std::vector<std::string> shards = by_index.shard_files();
    REQUIRE(shards.size() >= 3);
    CHECK(std::is_sorted(shards.begin(), shards.end()));
    CHECK(shards == by_dir.shard_files());
    for (const auto& s : shards) CHECK(fs::path(s).parent_path() == hf_dir);

    const auto listed = by_index.tensors();
    REQUIRE(listed.size() == by_dir.tensors().size());
    const ptio::value& root = by_index.root();
    REQUIRE(root.is(ptio::kind::dict));
    REQUIRE(root.size() == listed.size());
    for (std::size_t i = 0; i < listed.size(); ++i) {
        const ptio::named_tensor& nt = listed[i];
        INFO("tensor ", nt.name);
        CHECK(test_support::path_of(nt.path) == std::vector<std::string>{std::string(nt.name)});
        CHECK(by_index.find(nt.name) == &nt);  // one table for find() and tensors()
        CHECK(root.entries()[i].first.as_string() == nt.name);
        CHECK(&root.entries()[i].second.as_tensor() == nt.tensor);
        // The tensor is its shard's: the same bytes as opening that shard alone.
        const std::string_view shard = by_index.shard_of(nt.name);
        REQUIRE(std::find(shards.begin(), shards.end(), shard) != shards.end());
        const ptio::checkpoint alone = ptio::checkpoint::open(std::string(shard));
        const ptio::tensor& want = alone.at(nt.name);
        CHECK(nt.tensor->view().to_contiguous() == want.view().to_contiguous());
        CHECK(nt.tensor->dtype() == want.dtype());
        CHECK(std::equal(nt.tensor->shape().begin(), nt.tensor->shape().end(),
                         want.shape().begin(), want.shape().end()));
    }
    CHECK(by_index.shard_of("no such tensor").empty());
    CHECK(by_index.find("no such tensor") == nullptr);
    CHECK(code_of([&] { (void)by_index.at("no such tensor"); }) == ptio::errc::not_found);

    // Tied weights are one object of one shard; views of a fused tensor share its storage.
    CHECK(&by_index.at("lm_head.weight") == &by_index.at("model.embed_tokens.weight"));
    const auto& gate = by_index.at("model.layers.1.mlp.gate_proj.weight").view();
    const auto& up = by_index.at("model.layers.1.mlp.up_proj.weight").view();
    CHECK(gate.storage_bytes().data() == up.storage_bytes().data());
    CHECK(up.data() == gate.data() + gate.nbytes());

    // A plain checkpoint has no shards.
    const ptio::checkpoint plain = ptio::checkpoint::open(std::string(by_index.shard_of("lm_head.weight")));
    CHECK(plain.shard_files().empty());
    CHECK(plain.shard_of("lm_head.weight").empty());
}

TEST_CASE("sharded: opening reads only the index; find() maps only the shard it needs") {
    const scratch s("lazy");
    const ptio::checkpoint ck = ptio::checkpoint::open(s.index());
    const std::vector<std::string> shards = ck.shard_files();
    for (const auto& f : shards) CHECK_FALSE(is_mapped(f));
    const fs::path needed(std::string(ck.shard_of("model.norm.weight")));
    REQUIRE(ck.find("model.norm.weight") != nullptr);
    CHECK(is_mapped(needed));
    for (const auto& f : shards)
        if (f != needed) CHECK_FALSE(is_mapped(f));

    // Every other shard corrupt: the tensors of the good one still open and read.
    const scratch broken("corrupt");
    const ptio::checkpoint b = ptio::checkpoint::open(broken.index());
    const std::string good(b.shard_of("lm_head.weight"));
    for (const auto& f : b.shard_files())
        if (f != good) write_text(f, "this is not a checkpoint");
    const ptio::tensor& lm = b.at("lm_head.weight");
    CHECK(lm.view().to_contiguous() == ck.at("lm_head.weight").view().to_contiguous());
    CHECK(code_of([&] { (void)b.find("model.norm.weight"); }) == ptio::errc::not_a_checkpoint);
    CHECK(code_of([&] { (void)b.tensors(); }) == ptio::errc::not_a_checkpoint);
    std::size_t problems = b.verify({});
    CHECK(problems == b.shard_files().size() - 1);
}

TEST_CASE("sharded: a missing shard fails when one of its tensors is needed, naming both") {
    const scratch s("missing");
    const ptio::checkpoint ck = ptio::checkpoint::open(s.index());
    const std::string gone(ck.shard_of("model.causal_mask"));
    REQUIRE(gone != std::string(ck.shard_of("lm_head.weight")));
    fs::remove(gone);

    CHECK(ck.find("lm_head.weight") != nullptr);  // another shard: unaffected
    for (int attempt = 0; attempt < 2; ++attempt) {  // and again: nothing is cached
        CHECK(code_of([&] { (void)ck.find("model.causal_mask"); }) == ptio::errc::missing_record);
        const std::string what = message_of([&] { (void)ck.at("model.causal_mask"); });
        CHECK(what.find(fs::path(gone).filename().string()) != std::string::npos);
        CHECK(what.find("'model.causal_mask'") != std::string::npos);
        CHECK(code_of([&] { (void)ck.tensors(); }) == ptio::errc::missing_record);
        CHECK(code_of([&] { (void)ck.root(); }) == ptio::errc::missing_record);
    }
    std::vector<ptio::errc> codes;
    CHECK(ck.verify([&](const ptio::error& e) { codes.push_back(e.code()); }) == 1);
    CHECK(codes == std::vector<ptio::errc>{ptio::errc::missing_record});
}

TEST_CASE("sharded: a name its shard does not hold is not_found naming both") {
    const scratch s("ghost");
    const ptio::checkpoint ref = ptio::checkpoint::open(s.index());
    const std::string shard = fs::path(std::string(ref.shard_of("lm_head.weight"))).filename();
    write_text(s.index(), R"({"weight_map": {"lm_head.weight": ")" + shard +
                              R"(", "ghost.weight": ")" + shard + R"("}})");
    const ptio::checkpoint ck = ptio::checkpoint::open(s.index());
    CHECK(ck.find("lm_head.weight") != nullptr);
    CHECK(code_of([&] { (void)ck.find("ghost.weight"); }) == ptio::errc::not_found);
    const std::string what = message_of([&] { (void)ck.at("ghost.weight"); });
    CHECK(what.find(shard) != std::string::npos);
    CHECK(what.find("'ghost.weight'") != std::string::npos);
    CHECK(code_of([&] { (void)ck.tensors(); }) == ptio::errc::not_found);
    CHECK(ck.verify({}) == 1);
}

TEST_CASE("sharded: malformed indexes and shard names escaping the directory are refused") {
    const scratch s("bad");
    const fs::path index = s.dir / "bad.bin.index.json";
    struct row {
        std::string text, says;
    };
    const std::vector<row> rows = {
        {"", "not a valid JSON index"},
        {"{\"weight_map\": {\"a\": \"x.bin\"", "not a valid JSON index"},
        {"[1, 2]", "not an object"},
        {"{\"metadata\": {}}", "no \"weight_map\""},
        {"{\"weight_map\": [\"x.bin\"]}", "\"weight_map\" is a JSON array"},
        {"{\"weight_map\": {\"a\": 3}}", "gives 'a' a JSON number"},
        {"{\"weight_map\": {\"a\": null}}", "gives 'a' a JSON null"},
        {"{\"weight_map\": {\"a\": \"\xff.bin\"}}", "ill-formed UTF-8"},
        {"{\"weight_map\": {\"a\": \"../pytorch_model-00001-of-00006.bin\"}}", "not a file name beside the index"},
        {"{\"weight_map\": {\"a\": \"sub/x.bin\"}}", "not a file name beside the index"},
        {"{\"weight_map\": {\"a\": \"/etc/passwd\"}}", "not a file name beside the index"},
        {"{\"weight_map\": {\"a\": \"..\"}}", "not a file name beside the index"},
        {"{\"weight_map\": {\"a\": \"\"}}", "not a file name beside the index"},
    };
    for (const row& r : rows) {
        INFO("index: ", r.text);
        write_text(index, r.text);
        try {
            (void)ptio::checkpoint::open(index);
            FAIL("opened");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::not_a_checkpoint);
            CHECK(e.file() == index.string());
            CHECK(std::string(e.what()).find(r.says) != std::string::npos);
        }
    }
    // Nesting past the cap (the parser and the tree recurse) is a limit, not a crash.
    write_text(index, "{\"x\": " + std::string(100000, '[') + std::string(100000, ']') +
                          ", \"weight_map\": {}}");
    CHECK(code_of([&] { (void)ptio::checkpoint::open(index); }) == ptio::errc::limit_exceeded);
    // Unknown keys and no metadata are fine; so is an empty weight_map.
    write_text(index, R"({"format": "pt", "weight_map": {}, "extra": [1, {"x": null}]})");
    const ptio::checkpoint empty = ptio::checkpoint::open(index);
    CHECK(empty.tensors().empty());
    CHECK(empty.root().size() == 0);
    CHECK(empty.shard_files().empty());
}

TEST_CASE("sharded: a shard that is an index or a directory is refused, not recursed into") {
    const scratch s("self");
    const fs::path index = s.dir / "self.index.json";
    fs::create_directory(s.dir / "sub");
    write_text(s.dir / "sub" / "sub.bin.index.json", R"({"weight_map": {"x": "y.bin"}})");
    // Itself (checkpoint::open would read it as an index again, without end), another index,
    // a directory holding one.
    for (const char* shard : {"self.index.json", "pytorch_model.bin.index.json", "sub"}) {
        INFO("shard: ", shard);
        write_text(index, std::string(R"({"weight_map": {"x": ")") + shard + "\"}}");
        const ptio::checkpoint ck = ptio::checkpoint::open(index);
        CHECK(code_of([&] { (void)ck.find("x"); }) == ptio::errc::not_a_checkpoint);
        CHECK(message_of([&] { (void)ck.tensors(); }).find("is a directory or an index") != std::string::npos);
        CHECK(ck.verify(nullptr) == 1);
    }
}

TEST_CASE("sharded: state_dict() lists what tensors() lists") {
    REQUIRE_MESSAGE(fs::exists(hf_index), "run the fixtures.sharded test first");
    const ptio::checkpoint ck = ptio::checkpoint::open(hf_index);
    const auto sd = ck.state_dict();
    const auto all = ck.tensors();
    REQUIRE(!all.empty());
    REQUIRE(sd.size() == all.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
        CHECK(sd[i].name == all[i].name);
        CHECK(sd[i].tensor == all[i].tensor);
    }
}

TEST_CASE("sharded: a directory needs exactly one *.bin.index.json") {
    const scratch s("dirs");
    fs::rename(s.index(), s.dir / "index.json.bak");
    const std::string none = message_of([&] { (void)ptio::checkpoint::open(s.dir); });
    CHECK(code_of([&] { (void)ptio::checkpoint::open(s.dir); }) == ptio::errc::io_error);
    CHECK(none.find("no Hugging Face index") != std::string::npos);

    fs::copy_file(s.dir / "index.json.bak", s.dir / "pytorch_model.bin.index.json");
    fs::copy_file(s.dir / "index.json.bak", s.dir / "pytorch_model.fp16.bin.index.json");
    const std::string several = message_of([&] { (void)ptio::checkpoint::open(s.dir); });
    CHECK(code_of([&] { (void)ptio::checkpoint::open(s.dir); }) == ptio::errc::invalid_argument);
    CHECK(several.find("pytorch_model.bin.index.json") != std::string::npos);
    CHECK(several.find("pytorch_model.fp16.bin.index.json") != std::string::npos);
}

TEST_CASE("sharded: options reach every shard; lookups from many threads agree") {
    // weights_only: the shards are plain state_dicts, which torch's allowlist accepts.
    const ptio::checkpoint ck = ptio::checkpoint::open(hf_index, ptio::open_options{.weights_only = true});
    std::vector<std::string> names;
    {
        const ptio::checkpoint ref = ptio::checkpoint::open(hf_index);
        for (const auto& nt : ref.tensors()) names.emplace_back(nt.name);
    }
    std::vector<std::vector<const ptio::named_tensor*>> seen(8);
    {
        std::vector<std::jthread> threads;
        for (std::size_t t = 0; t < seen.size(); ++t)
            threads.emplace_back([&, t] {
                for (std::size_t i = 0; i < names.size(); ++i)
                    seen[t].push_back(ck.find(names[(i + t * 5) % names.size()]));
            });
    }
    for (std::size_t t = 0; t < seen.size(); ++t)
        for (std::size_t i = 0; i < names.size(); ++i) {
            const auto* nt = seen[t][i];
            REQUIRE(nt != nullptr);
            CHECK(nt == &ck.tensors()[(i + t * 5) % names.size()]);
        }
    // verify_crc: a flipped byte in one shard's storage is found when that tensor is read.
    const scratch s("crc");
    const ptio::checkpoint plain = ptio::checkpoint::open(s.index());
    const std::string shard(plain.shard_of("model.norm.weight"));
    const std::vector<std::byte> ones = plain.at("model.norm.weight").view().to_contiguous();
    {
        std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
        std::string bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
        const std::string needle(reinterpret_cast<const char*>(ones.data()), ones.size());
        const auto at = bytes.find(needle);
        REQUIRE(at != std::string::npos);
        f.seekp(static_cast<std::streamoff>(at));
        f.put('\x7f');
    }
    const ptio::checkpoint checked = ptio::checkpoint::open(s.index(), ptio::open_options{.verify_crc = true});
    CHECK(code_of([&] { (void)checked.at("model.norm.weight").view().data(); }) == ptio::errc::crc_mismatch);
}
