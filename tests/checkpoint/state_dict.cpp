// checkpoint::state_dict() on trees torch does not write (the oracle.state_dict test compares
// with real torch on the files it does write): optimizer state keyed by an alias of a
// parameter, slot state, and files without modules.
#include <doctest/doctest.h>

#include <ptio/ptio.hpp>
#include <string>
#include <vector>
#include "support/names.hpp"

namespace {

std::vector<std::string> names(std::span<const ptio::named_tensor> listed) {
    std::vector<std::string> out;
    for (const auto& t : listed) out.emplace_back(t.name);
    return out;
}

std::vector<std::byte> floats(std::size_t n) {
    std::vector<std::byte> b(n * 4);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::byte(i);
    return b;
}

}  // namespace

TEST_CASE("state_dict: optimizer state keyed by an equal view of a parameter") {
    const auto bytes = floats(8);
    const auto storage = ptio::storage_ref::borrow(bytes);
    using ptio::tree;
    tree p0 = tree::tensor(storage, ptio::dtype::float32, {4}, {1}, 0);
    tree p1 = tree::tensor(storage, ptio::dtype::float32, {4}, {1}, 4);
    // Another tensor object over p1's elements: torch matches by object, a foreign writer
    // may not have kept the identity.
    tree alias = tree::tensor(storage, ptio::dtype::float32, {4}, {1}, 4);
    tree state = tree::dict();
    state.set(p0, tree::dict().set("exp_avg", tree::tensor(ptio::dtype::float32, {2},
                                                           std::span(bytes).first(8))));
    state.set(alias, tree::dict().set("exp_avg", tree::tensor(ptio::dtype::float32, {1},
                                                              std::span(bytes).first(4))));
    tree groups = tree::list({tree::dict().set("params", tree::list({p0})),
                              tree::dict().set("params", tree::list({p1})).set("lr", 0.1)});
    tree opt = tree::call("torch.optim.adam", "Adam", tree::tuple());
    opt.state(
        tree::dict().set("defaults", tree::dict()).set("state", state).set("param_groups", groups));

    const auto ck = ptio::checkpoint::open(ptio::save(tree::dict().set("opt", opt), {.allow_globals = {"torch.optim.adam.Adam"}}));
    CHECK(names(ck.state_dict()) ==
          std::vector<std::string>{"opt.state.0.exp_avg", "opt.state.1.exp_avg"});
    CHECK(test_support::path_of(ck.state_dict()[1].path) == std::vector<std::string>{"opt", "state", "1", "exp_avg"});
}

TEST_CASE("state_dict: slot state and plain objects name their attributes") {
    const auto bytes = floats(2);
    using ptio::tree;
    tree slots = tree::call("m", "Slots", tree::tuple());
    slots.state(tree::tuple(
        {tree(), tree::dict().set("w", tree::tensor(ptio::dtype::float32, {2}, bytes))}));
    tree plain = tree::call("m", "Plain", tree::tuple());
    plain.state(tree::dict().set("inner", slots).set("n", 3));
    const auto ck = ptio::checkpoint::open(ptio::save(plain, {.allow_globals = {"m.Slots", "m.Plain"}}));
    CHECK(names(ck.state_dict()) == std::vector<std::string>{"inner.w"});
    CHECK(names(ck.tensors()) == std::vector<std::string>{"inner.1.w"});  // the pickle's shape
}

TEST_CASE("state_dict: without modules or optimizers it lists what tensors() lists") {
    const auto bytes = floats(3);
    using ptio::tree;
    tree t = tree::tensor(ptio::dtype::float32, {3}, bytes);
    tree root = tree::ordered_dict();
    root.set("a", t).set("b", tree::list({t, tree::tuple({t})}));
    const auto ck = ptio::checkpoint::open(ptio::save(root));
    CHECK(names(ck.state_dict()) == names(ck.tensors()));
    CHECK(ck.state_dict().size() == 3);
    CHECK(ck.state_dict().data() == ck.state_dict().data());  // built once
}

TEST_CASE("state_dict: find() and at() take state_dict() names as well as tree paths") {
    const auto bytes = floats(6);
    using ptio::tree;
    // A module as torch.save(model) pickles it: its __dict__ holds _parameters, _buffers
    // and _modules.
    auto module = [](tree params, tree buffers, tree children) {
        tree m = tree::call("torch.nn.modules.module", "Module", tree::tuple());
        m.state(tree::dict()
                    .set("training", true)
                    .set("_parameters", params)
                    .set("_buffers", buffers)
                    .set("_modules", children));
        return m;
    };
    tree fc = module(tree::dict().set("weight", tree::tensor(ptio::dtype::float32, {2, 2}, std::span(bytes).first(16))),
                     tree::dict(), tree::dict());
    tree net = module(tree::dict(), tree::dict().set("scale", tree::tensor(ptio::dtype::float32, {2}, std::span(bytes).last(8))),
                      tree::dict().set("fc", fc));
    const auto ck = ptio::checkpoint::open(ptio::save(net, {.allow_globals = {"torch.nn.modules.module.Module"}}));
    REQUIRE(names(ck.state_dict()) == std::vector<std::string>{"scale", "fc.weight"});
    // The tree path still works, and the state_dict name reaches the same tensor.
    const auto* by_path = ck.find("_modules.fc._parameters.weight");
    REQUIRE(by_path != nullptr);
    const auto* by_state = ck.find("fc.weight");
    REQUIRE(by_state != nullptr);
    CHECK(by_state->tensor == by_path->tensor);
    CHECK(&ck.at("scale") == ck.find("_buffers.scale")->tensor);
    CHECK(ck.find("fc.bias") == nullptr);
    CHECK_THROWS_AS((void)ck.at("fc.bias"), ptio::error);
}
