// pickle/node and pickle/memo on their own: the arena finds the nodes it made, dicts assign
// as Python's do (small and indexed alike), and the memo keeps its cap.
#include <doctest/doctest.h>

#include <string>

#include "pickle/memo.hpp"
#include "pickle/node.hpp"

namespace pk = ptio::detail::pickle;
using ptio::kind;
using ptio::detail::value_access;

TEST_CASE("pickle node: the arena hands back the nodes it made, across chunks") {
    ptio::detail::arena nodes;
    std::vector<ptio::value> made;
    for (int i = 0; i < 20000; ++i) made.push_back(pk::make_string(nodes, std::to_string(i)));
    CHECK(nodes.size() == 20000u);
    for (int i : {0, 255, 256, 9999, 19999, 3, 12345}) {
        ptio::detail::node& n = nodes.mut(made[static_cast<std::size_t>(i)]);
        CHECK(&n == ptio::detail::node_of(made[static_cast<std::size_t>(i)]));
        CHECK(n.text == std::to_string(i));
    }
    CHECK(value_access::make_int(3).identity() == nullptr);
    CHECK(made[5].identity() == ptio::detail::node_of(made[5]));
}

TEST_CASE("pickle node: dict assignment replaces in place, below and above the index size") {
    ptio::detail::arena nodes;
    for (int size : {3, 40}) {
        CAPTURE(size);
        auto& d = nodes.make(kind::dict);
        for (int i = 0; i < size; ++i) pk::set_item(nodes, d, value_access::make_int(i), value_access::make_int(i));
        pk::set_item(nodes, d, value_access::make_int(1), value_access::make_int(100));
        pk::set_item(nodes, d, pk::make_string(nodes, "k"), value_access::make_int(1));
        pk::set_item(nodes, d, pk::make_string(nodes, "k"), value_access::make_int(2));
        REQUIRE(d.entries.size() == static_cast<std::size_t>(size) + 1);
        CHECK(d.entries[1].second.as_int() == 100);  // kept its place
        CHECK(d.entries.back().second.as_int() == 2);
    }
}

TEST_CASE("pickle memo: dense and sparse indices, len() as Python counts it, the cap") {
    pk::memo m(4, 3);
    CHECK(m.put(0, value_access::make_int(10)));
    CHECK(m.put(1000, value_access::make_int(11)));  // sparse
    CHECK(m.put(0, value_access::make_int(12)));     // replaces: no new key
    CHECK(m.size() == 2u);
    CHECK(m.get(0)->as_int() == 12);
    CHECK(m.get(1000)->as_int() == 11);
    CHECK(m.get(1) == nullptr);
    CHECK(m.put(1, value_access::make_int(13)));
    CHECK_FALSE(m.put(2, value_access::make_int(14)));  // a fourth key passes the cap of 3
    CHECK(m.size() == 3u);
}
