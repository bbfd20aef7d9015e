// map_location: torch.load's four forms (none, a device or its text, a dict of tags, a callable)
// resolved against storages with various saved tags, and the CLI's spelling.
//
// These run on any machine: where a CUDA destination is resolved, the expected outcome depends
// on cuda_device_count() (no device here: cuda_unavailable, worded like torch's message).
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ptio/device.hpp>
#include <ptio/dtype.hpp>
#include <ptio/error.hpp>
#include <ptio/map_location.hpp>

namespace {

using ptio::device;

ptio::storage_info storage(std::string_view location, std::string_view key = "3",
                           std::uint64_t nbytes = 48, ptio::dtype t = ptio::dtype::float32) {
    return ptio::storage_info{key, nbytes, t, location};
}

bool have_cuda(int ordinal) { return ordinal < ptio::cuda_device_count(); }

// The error resolve() throws, or nullopt when it returns.
std::optional<ptio::error> resolve_error(const ptio::map_location& where,
                                         const ptio::storage_info& s,
                                         std::string_view file = "model.pt") {
    try {
        (void)where.resolve(s, file);
    } catch (const ptio::error& e) {
        return e;
    }
    return std::nullopt;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

// A resolution to CUDA device `ordinal`: the device on a machine that has it, else
// cuda_unavailable whose message says how to load anyway and names the file and storage.
void check_cuda(const ptio::map_location& where, const ptio::storage_info& s, int ordinal) {
    INFO("map_location ", where.str(), ", saved tag ", std::string(s.location));
    if (have_cuda(ordinal)) {
        CHECK(where.resolve(s, "model.pt") == device::cuda(ordinal));
        return;
    }
    const auto e = resolve_error(where, s);
    REQUIRE(e.has_value());
    CHECK(e->code() == ptio::errc::cuda_unavailable);
    const std::string what = e->what();
    INFO("message: ", what);
    CHECK(contains(what, "map_location"));
    CHECK(contains(what, "model.pt"));
    CHECK(contains(what, "storage '" + std::string(s.key) + "'"));
    CHECK(e->file() == "model.pt");
    CHECK(e->record() == "data/" + std::string(s.key));
}

void check_unknown(const ptio::map_location& where, const ptio::storage_info& s) {
    INFO("map_location ", where.str(), ", saved tag ", std::string(s.location));
    const auto e = resolve_error(where, s);
    REQUIRE(e.has_value());
    CHECK(e->code() == ptio::errc::unknown_location);
    const std::string what = e->what();
    INFO("message: ", what);
    CHECK(contains(what, std::string(s.location)));  // the tag it could not restore
    CHECK(contains(what, "storage '" + std::string(s.key) + "'"));
    CHECK(e->record() == "data/" + std::string(s.key));
}

ptio::errc construct_error(auto&& make) {
    try {
        (void)make();
    } catch (const ptio::error& e) {
        return e.code();
    }
    FAIL("no error");
    return ptio::errc::not_found;
}

}  // namespace

TEST_CASE("map_location: none restores each saved tag") {
    const ptio::map_location none;
    CHECK(none.str() == "none");
    CHECK(none.resolve(storage("cpu")) == device::cpu());
    CHECK(none.resolve(storage("meta")) == device::meta());
    check_cuda(none, storage("cuda:0"), 0);
    check_cuda(none, storage("cuda:1", "7"), 1);
    check_cuda(none, storage("cuda", "0"), 0);  // torch accepts any tag starting with "cuda"
    for (std::string_view tag : {"mps", "xpu:0", "hpu:0", "npu:0", "mtia:0", "privateuseone:0",
                                 "cudax", "cuda:x", "", "CPU"}) {
        check_unknown(none, storage(tag));
    }
    // Without a file the message still names the storage.
    const auto e = resolve_error(none, storage("mps", "12"), "");
    REQUIRE(e.has_value());
    CHECK(e->code() == ptio::errc::unknown_location);
    CHECK(e->file().empty());
    CHECK(contains(e->what(), "storage '12'"));
}

TEST_CASE("map_location: a device or its text replaces every saved tag") {
    for (const ptio::map_location& cpu : {ptio::map_location("cpu"),
                                          ptio::map_location(device::cpu()),
                                          ptio::map_location(std::string_view("cpu:0"))}) {
        CHECK(cpu.str() == "cpu");
        for (std::string_view tag : {"cpu", "meta", "cuda:0", "cuda:7", "mps", "xpu:0"})
            CHECK(cpu.resolve(storage(tag)) == device::cpu());
    }
    const ptio::map_location meta("meta");
    CHECK(meta.str() == "meta");
    for (std::string_view tag : {"cpu", "cuda:1", "mps"})
        CHECK(meta.resolve(storage(tag)) == device::meta());

    const ptio::map_location cuda0(device::cuda(0));
    CHECK(cuda0.str() == "cuda:0");
    for (std::string_view tag : {"cpu", "cuda:1", "mps", "meta"}) check_cuda(cuda0, storage(tag), 0);
    const ptio::map_location cuda1("cuda:1");
    CHECK(cuda1.str() == "cuda:1");
    check_cuda(cuda1, storage("cpu"), 1);
    CHECK(ptio::map_location("cuda").str() == "cuda");
    check_cuda(ptio::map_location("cuda"), storage("cpu"), 0);

    // The text is checked when the map_location is made.
    for (const char* bad : {"gpu", "cuda:x", "cuda:-1", "meta:0", "", "mps"}) {
        INFO("text '", bad, "'");
        CHECK(construct_error([&] { return ptio::map_location(bad); }) ==
              ptio::errc::invalid_argument);
    }
}

TEST_CASE("map_location: a dict of tags renames the tags it has; others keep theirs") {
    const ptio::map_location m(ptio::map_location::tag_map{{"cuda:1", "cpu"}});
    CHECK(m.str() == "{cuda:1: cpu}");
    CHECK(m.resolve(storage("cuda:1")) == device::cpu());
    CHECK(m.resolve(storage("cpu")) == device::cpu());
    CHECK(m.resolve(storage("meta")) == device::meta());
    check_cuda(m, storage("cuda:0"), 0);  // not in the dict: its own tag
    check_unknown(m, storage("mps"));

    const ptio::map_location several(
        ptio::map_location::tag_map{{"cuda:1", "cuda:0"}, {"cuda:0", "meta"}, {"mps", "cpu"},
                                    {"cpu", "meta"}});
    CHECK(several.str() == "{cpu: meta, cuda:0: meta, cuda:1: cuda:0, mps: cpu}");
    check_cuda(several, storage("cuda:1"), 0);
    CHECK(several.resolve(storage("cuda:0")) == device::meta());  // one lookup, not a chain
    CHECK(several.resolve(storage("mps")) == device::cpu());
    CHECK(several.resolve(storage("cpu")) == device::meta());
    check_unknown(several, storage("xpu:0"));

    const ptio::map_location empty(ptio::map_location::tag_map{});
    CHECK(empty.str() == "{}");
    CHECK(empty.resolve(storage("cpu")) == device::cpu());
    check_cuda(empty, storage("cuda:0"), 0);

    // Values are parsed when the map_location is made.
    CHECK(construct_error([] {
              return ptio::map_location(ptio::map_location::tag_map{{"cuda:1", "gpu"}});
          }) == ptio::errc::invalid_argument);
    CHECK(construct_error([] {
              return ptio::map_location(ptio::map_location::tag_map{{"cpu", "mps"}});
          }) == ptio::errc::invalid_argument);
}

TEST_CASE("map_location: a callable sees each storage and its saved tag") {
    std::vector<std::string> seen;
    const ptio::map_location m(ptio::map_location::callable(
        [&](const ptio::storage_info& s, std::string_view tag) -> std::optional<device> {
            CHECK(tag == s.location);
            seen.push_back(std::string(s.key) + "|" + std::to_string(s.nbytes) + "|" +
                           std::string(ptio::name(s.dtype)) + "|" + std::string(tag));
            if (tag == "cuda:1") return device::cpu();
            if (tag == "cuda:2") return device::meta();
            if (tag == "cpu" && s.key == "9") return device::cuda(0);
            return std::nullopt;  // the default rule with the saved tag
        }));
    CHECK(m.str() == "<callable>");
    CHECK(m.resolve(storage("cuda:1", "5", 40, ptio::dtype::int64)) == device::cpu());
    CHECK(seen.back() == "5|40|int64|cuda:1");
    CHECK(m.resolve(storage("cuda:2", "6", 2, ptio::dtype::float16)) == device::meta());
    CHECK(seen.back() == "6|2|float16|cuda:2");
    CHECK(m.resolve(storage("cpu", "0", 0, ptio::dtype::uint8)) == device::cpu());
    CHECK(seen.back() == "0|0|uint8|cpu");
    CHECK(m.resolve(storage("meta", "1")) == device::meta());
    check_cuda(m, storage("cuda:0", "2"), 0);              // nullopt: default restore
    check_cuda(m, storage("cpu", "9"), 0);                 // a returned CUDA device is checked
    check_unknown(m, storage("mps", "4"));                 // nullopt on an unknown tag
    CHECK(seen.size() == 7);

    // An exception from the callable passes through unchanged.
    const ptio::map_location throws(ptio::map_location::callable(
        [](const ptio::storage_info&, std::string_view) -> std::optional<device> {
            throw std::runtime_error("from the callable");
        }));
    CHECK_THROWS_WITH_AS((void)throws.resolve(storage("cpu")), "from the callable",
                         std::runtime_error);
}

TEST_CASE("map_location: restore_location is torch's default rule") {
    CHECK(ptio::restore_location("cpu") == device::cpu());
    CHECK(ptio::restore_location("meta") == device::meta());
    for (std::string_view tag : {"mps", "xpu:0", "cuda:x", "cpu:0", "Meta"}) {
        INFO("tag ", std::string(tag));
        try {
            (void)ptio::restore_location(tag, "f.pt", "8");
            FAIL("no error");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::unknown_location);
            CHECK(e.file() == "f.pt");
            CHECK(e.record() == "data/8");
            CHECK(contains(e.what(), tag));
        }
    }
    if (!have_cuda(0)) {
        try {
            (void)ptio::restore_location("cuda:0", "f.pt", "8");
            FAIL("no error");
        } catch (const ptio::error& e) {
            CHECK(e.code() == ptio::errc::cuda_unavailable);
            CHECK(contains(e.what(), "map_location"));
            CHECK(contains(e.what(), "storage '8'"));
        }
    } else {
        CHECK(ptio::restore_location("cuda:0") == device::cuda(0));
    }
    const int count = ptio::cuda_device_count();
    const std::string past = "cuda:" + std::to_string(count);  // one past the last device
    try {
        (void)ptio::restore_location(past, "f.pt", "8");
        FAIL("no error");
    } catch (const ptio::error& e) {
        CHECK(e.code() == ptio::errc::cuda_unavailable);
        CHECK(contains(e.what(), "map_location"));
        if (count > 0) CHECK(contains(e.what(), "device " + std::to_string(count)));
    }
}

TEST_CASE("map_location: parse reads the CLI's spelling") {
    const auto dict = ptio::map_location::parse("cuda:1=cuda:0,cuda:2=cpu");
    CHECK(dict.str() == "{cuda:1: cuda:0, cuda:2: cpu}");
    check_cuda(dict, storage("cuda:1"), 0);
    CHECK(dict.resolve(storage("cuda:2")) == device::cpu());
    CHECK(dict.resolve(storage("cpu")) == device::cpu());
    check_cuda(dict, storage("cuda:3"), 3);
    check_unknown(dict, storage("mps"));

    CHECK(ptio::map_location::parse("cpu").str() == "cpu");
    CHECK(ptio::map_location::parse("meta").str() == "meta");
    CHECK(ptio::map_location::parse("cuda:0").str() == "cuda:0");
    CHECK(ptio::map_location::parse("mps=cpu").resolve(storage("mps")) == device::cpu());
    CHECK(ptio::map_location::parse("cuda:1=meta").str() == "{cuda:1: meta}");

    for (const char* bad : {"", "gpu", "cuda:x", "cuda:1=", "=cpu", "cuda:1=gpu", "cuda:1=cuda:-1",
                            ",cuda:1=cpu", "cuda:1=cpu,,cuda:2=cpu", "cuda:1=cpu,cuda:2",
                            "cuda:1=cpu=meta", "=", "cuda:1=cpu,", "cuda:1=cpu:0"}) {
        INFO("spec '", bad, "'");
        CHECK(construct_error([&] { return ptio::map_location::parse(bad); }) ==
              ptio::errc::invalid_argument);
    }
}
