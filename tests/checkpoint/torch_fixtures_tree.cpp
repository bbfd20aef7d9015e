// The object trees of files real torch wrote (tests/fixtures/make_fixtures.py): kinds, big
// integers, floats, strings, bytes, int keys, every pickle protocol, a training checkpoint
// with OrderedDict and state_dict metadata, parameters, and a bare tensor or a list at the
// root. Expected values are the ones the fixture script constructs; keep the two in step.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <ptio/ptio.hpp>

#include "checkpoint/fixture_support.hpp"
#include "support/names.hpp"

using namespace fixture_support;

TEST_CASE("fixtures: nested values come back as the script wrote them") {
    for (const char* file : {"nested.pt", "protocol_2.pt", "protocol_3.pt", "protocol_4.pt",
                             "protocol_5.pt"}) {
        SUBCASE(file) {
            const auto ck = open_fixture(file);
            const ptio::value& root = ck.root();
            REQUIRE(root.is(ptio::kind::dict));
            CHECK(root.class_name() == "dict");
            CHECK(root.size() == 13);

            const ptio::value& ints = get(root, "ints");
            REQUIRE(ints.is(ptio::kind::list));
            const std::int64_t want_ints[] = {0, 1, -1, 255, 256, 65535, 65536, 2147483647,
                                              -2147483648, INT64_MAX, INT64_MIN};
            REQUIRE(ints.size() == std::size(want_ints));
            for (std::size_t k = 0; k < ints.size(); ++k) {
                CHECK(ints.items()[k].is(ptio::kind::integer));
                CHECK(ints.items()[k].as_int() == want_ints[k]);
            }

            const ptio::value& big = get(root, "big");
            const char* want_big[] = {"9223372036854775808", "18446744073709551617",
                                      "-9223372036854775809",
                                      "-1267650600228229401496703205376",
                                      "1000000000000000000000000000000"};
            REQUIRE(big.size() == std::size(want_big));
            for (std::size_t k = 0; k < big.size(); ++k) {
                CHECK(big.items()[k].is(ptio::kind::big_integer));
                CHECK(big.items()[k].int_text() == want_big[k]);
            }
            // 2**63 as two's-complement little-endian digits: 00 … 00 80 00
            const auto digits = big.items()[0].as_bytes();
            REQUIRE(digits.size() == 9);
            CHECK(digits[7] == std::byte{0x80});
            CHECK(digits[8] == std::byte{0x00});

            const ptio::value& floats = get(root, "floats");
            REQUIRE(floats.size() == 8);
            for (const ptio::value& f : floats.items()) CHECK(f.is(ptio::kind::floating));
            CHECK(floats.items()[0].as_float() == 0.0);
            CHECK_FALSE(std::signbit(floats.items()[0].as_float()));
            CHECK(floats.items()[1].as_float() == 0.0);
            CHECK(std::signbit(floats.items()[1].as_float()));
            CHECK(floats.items()[2].as_float() == 1.5);
            CHECK(floats.items()[3].as_float() == -2.25);
            CHECK(floats.items()[4].as_float() == 1e300);
            CHECK(std::isnan(floats.items()[5].as_float()));
            CHECK(floats.items()[6].as_float() == INFINITY);
            CHECK(floats.items()[7].as_float() == -INFINITY);

            const ptio::value& strings = get(root, "strings");
            const std::string_view want_strings[] = {"", "ascii", "h\xc3\xa9llo w\xc3\xb6rld",
                                                     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                                     "\xf0\x9f\x9a\x80 emoji"};
            REQUIRE(strings.size() == std::size(want_strings));
            for (std::size_t k = 0; k < strings.size(); ++k) {
                CHECK(strings.items()[k].is(ptio::kind::string));
                CHECK(strings.items()[k].as_string() == want_strings[k]);
            }

            const ptio::value& bytes = get(root, "bytes");
            REQUIRE(bytes.is(ptio::kind::bytes));
            const auto b = bytes.as_bytes();
            CHECK(std::vector<std::byte>(b.begin(), b.end()) ==
                  std::vector<std::byte>{std::byte{0x00}, std::byte{0x01}, std::byte{0x7f},
                                         std::byte{0x80}, std::byte{0xfe}, std::byte{0xff}});
            const ptio::value& empty_bytes = get(root, "empty_bytes");
            CHECK(empty_bytes.is(ptio::kind::bytes));
            CHECK(empty_bytes.as_bytes().empty());

            CHECK(get(root, "none").is_none());
            CHECK(get(root, "true").is(ptio::kind::boolean));
            CHECK(get(root, "true").as_bool() == true);
            CHECK(get(root, "false").as_bool() == false);

            const ptio::value& tuple = get(root, "tuple");
            REQUIRE(tuple.is(ptio::kind::tuple));
            REQUIRE(tuple.size() == 4);
            CHECK(tuple.items()[0].as_int() == 1);
            CHECK(tuple.items()[1].as_string() == "two");
            CHECK(tuple.items()[2].is(ptio::kind::floating));
            CHECK(tuple.items()[2].as_float() == 3.0);
            CHECK(tuple.items()[3].is_none());

            // Containers of tensors, and int keys.
            const ptio::value& tensors = get(root, "tensors");
            CHECK(get(tensors, "list").is(ptio::kind::list));
            CHECK(get(tensors, "tuple").is(ptio::kind::tuple));
            const ptio::value* seven = entry_by_text(root, "7");
            REQUIRE(seven != nullptr);
            REQUIRE(seven->is(ptio::kind::tensor));
            CHECK(elements<std::int16_t>(seven->as_tensor().view()) ==
                  std::vector<std::int16_t>{7, 7, 7});
            const ptio::value* minus_three = entry_by_text(root, "-3");
            REQUIRE(minus_three != nullptr);
            CHECK(minus_three->as_string() == "negative int key");
            for (const auto& [key, value] : root.entries())
                if (ptio::key_text(key) == "7" || ptio::key_text(key) == "-3")
                    CHECK(key.is(ptio::kind::integer));

            CHECK(names(ck) == std::vector<std::string>{"tensors.list.0", "tensors.list.1.deep",
                                                        "tensors.tuple.0", "tensors.tuple.1",
                                                        "7"});
            CHECK(test_support::path_of(ck.tensors()[1].path) ==
                  std::vector<std::string>{"tensors", "list", "1", "deep"});
            const auto& shared = tensor_named(ck, "tensors.tuple.0").view();
            const auto& part = tensor_named(ck, "tensors.tuple.1").view();
            CHECK(part.storage_bytes().data() == shared.storage_bytes().data());
            CHECK(elements<std::int64_t>(part) == std::vector<std::int64_t>{2, 3, 4});
            CHECK(elements<float>(tensor_named(ck, "tensors.list.0").view()) ==
                  std::vector<float>{0, 1, 2, 3});
        }
    }
}

TEST_CASE("fixtures: pickle protocols 2 to 5 give the same tensor table") {
    const auto reference = summarize(open_fixture("protocol_2.pt"));
    REQUIRE(reference.size() == 5);
    for (const char* file : {"nested.pt", "protocol_3.pt", "protocol_4.pt", "protocol_5.pt"}) {
        INFO("file ", file);
        CHECK(summarize(open_fixture(file)) == reference);
    }
}

TEST_CASE("fixtures: a training checkpoint") {
    const auto ck = open_fixture("training.pt");
    const ptio::value& root = ck.root();
    CHECK(get(root, "epoch").as_int() == 3);
    CHECK(get(root, "loss").as_float() == 0.25);

    const ptio::value& model = get(root, "model");
    CHECK(model.class_name() == "collections.OrderedDict");
    const char* model_keys[] = {"fc1.weight", "fc1.bias", "bn.weight", "bn.bias",
                                "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
                                "fc2.weight", "fc2.bias"};
    REQUIRE(model.size() == std::size(model_keys));
    for (std::size_t k = 0; k < model.size(); ++k) {
        CHECK(model.entries()[k].first.as_string() == model_keys[k]);
        CHECK(model.entries()[k].second.is(ptio::kind::tensor));
    }
    // state_dict() attaches _metadata, pickled as BUILD state after the items.
    const ptio::value state = model.state();
    REQUIRE(state.is(ptio::kind::dict));
    const ptio::value& metadata = get(state, "_metadata");
    CHECK(metadata.class_name() == "collections.OrderedDict");
    CHECK(get(get(metadata, ""), "version").as_int() == 1);
    CHECK(get(get(metadata, "bn"), "version").as_int() == 2);

    const ptio::tensor& weight = ck.at("model.fc1.weight");
    CHECK(dims(weight.shape()) == std::vector<std::int64_t>{8, 4});
    CHECK_FALSE(weight.is_parameter());
    CHECK_FALSE(weight.requires_grad());
    const ptio::tensor& tracked = ck.at("model.bn.num_batches_tracked");
    CHECK(tracked.dtype() == ptio::dtype::int64);
    CHECK(tracked.view().at<std::int64_t>({}) == 1);

    // Adam after one step: state keyed by int parameter index.
    const ptio::value& optimizer = get(root, "optimizer");
    const ptio::value& opt_state = get(optimizer, "state");
    REQUIRE(opt_state.size() == 6);
    for (std::size_t k = 0; k < 6; ++k) {
        CHECK(opt_state.entries()[k].first.is(ptio::kind::integer));
        CHECK(opt_state.entries()[k].first.as_int() == static_cast<std::int64_t>(k));
    }
    CHECK(ck.at("optimizer.state.0.step").view().at<float>({}) == 1.0f);
    CHECK(dims(ck.at("optimizer.state.4.exp_avg").shape()) == std::vector<std::int64_t>{2, 8});
    const ptio::value& groups = get(optimizer, "param_groups");
    REQUIRE(groups.is(ptio::kind::list));
    REQUIRE(groups.size() == 1);
    const ptio::value& group = groups.items()[0];
    CHECK(get(group, "lr").as_float() == 1e-3);
    CHECK(get(group, "eps").as_float() == 1e-8);
    CHECK(get(group, "amsgrad").as_bool() == false);
    CHECK(get(group, "foreach").is_none());
    const ptio::value& betas = get(group, "betas");
    REQUIRE(betas.is(ptio::kind::tuple));
    CHECK(betas.items()[0].as_float() == 0.9);
    CHECK(betas.items()[1].as_float() == 0.999);
    const ptio::value& params = get(group, "params");
    REQUIRE(params.size() == 6);
    for (std::size_t k = 0; k < 6; ++k)
        CHECK(params.items()[k].as_int() == static_cast<std::int64_t>(k));

    CHECK(ck.tensors().size() == 9 + 6 * 3);
}

TEST_CASE("fixtures: parameters saved directly") {
    const auto ck = open_fixture("parameters.pt");
    const ptio::tensor& weight = ck.at("weight");
    CHECK(weight.is_parameter());
    CHECK(weight.requires_grad());
    CHECK(elements<float>(weight.view()) == std::vector<float>{0, 1, 2, 3, 4, 5});
    const ptio::tensor& frozen = ck.at("frozen");
    CHECK(frozen.is_parameter());
    CHECK_FALSE(frozen.requires_grad());
    const ptio::tensor& leaf = ck.at("leaf");
    CHECK_FALSE(leaf.is_parameter());
    CHECK(leaf.requires_grad());
    const ptio::tensor& plain = ck.at("plain");
    CHECK_FALSE(plain.is_parameter());
    CHECK_FALSE(plain.requires_grad());
}

TEST_CASE("fixtures: a bare tensor and a list at the root") {
    const auto bare = open_fixture("bare_tensor.pt");
    REQUIRE(bare.root().is(ptio::kind::tensor));
    REQUIRE(bare.tensors().size() == 1);
    CHECK(bare.tensors()[0].path.empty());
    CHECK(bare.tensors()[0].name.empty());
    CHECK(bare.tensors()[0].tensor == &bare.root().as_tensor());
    const auto& v = bare.root().as_tensor().view();
    for (std::int64_t i = 0; i < 2; ++i)
        for (std::int64_t j = 0; j < 5; ++j) CHECK(v.at<std::int64_t>({i, j}) == i * 5 + j);

    const auto list = open_fixture("list_root.pt");
    REQUIRE(list.root().is(ptio::kind::list));
    CHECK(list.root().size() == 4);
    CHECK(list.root().items()[3].is(ptio::kind::tuple));
    CHECK(names(list) == std::vector<std::string>{"0", "1", "2.a", "3.0"});
    const auto& first = list.at("0").view();
    const auto& rest = list.at("1").view();
    CHECK(rest.storage_bytes().data() == first.storage_bytes().data());
    CHECK(rest.storage_offset() == 1);
    CHECK(elements<double>(rest) == std::vector<double>{1, 2, 3, 4});
    CHECK(elements<std::uint8_t>(list.at("2.a").view()) == std::vector<std::uint8_t>{0, 0});
    CHECK(elements<float>(list.at("3.0").view()) == std::vector<float>{1});
}
