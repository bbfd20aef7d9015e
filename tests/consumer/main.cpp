// A program built against an installed ptio: prints the version, then lists the checkpoint
// given on the command line, or (with no argument) checks that empty input is refused with
// errc::not_a_checkpoint.
#include <ptio/ptio.hpp>

#include <cstddef>
#include <cstdint>
#include <iostream>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
    std::cout << "ptio " << ptio::version_string << '\n';
    if (argc > 1) {
        try {
            const auto ck = ptio::checkpoint::open(argv[1]);
            for (const ptio::named_tensor& t : ck.tensors()) {
                std::cout << t.name << ' ' << ptio::name(t.tensor->dtype()) << " [";
                for (const std::int64_t d : t.tensor->shape()) std::cout << ' ' << d;
                std::cout << " ]\n";
            }
            std::cout << ck.tensors().size() << " tensors\n";
            return 0;
        } catch (const ptio::error& e) {
            std::cerr << "error (" << ptio::to_string(e.code()) << "): " << e.what() << '\n';
            return 1;
        }
    }
    try {
        std::vector<std::byte> empty;
        const auto ck = ptio::checkpoint::open(std::move(empty));
        std::cerr << "opening zero bytes did not throw\n";
        return 1;
    } catch (const ptio::error& e) {
        if (e.code() != ptio::errc::not_a_checkpoint) {
            std::cerr << "opening zero bytes: expected not_a_checkpoint, got "
                      << ptio::to_string(e.code()) << ": " << e.what() << '\n';
            return 1;
        }
        std::cout << "empty input refused as expected: " << e.what() << '\n';
    }
    return 0;
}
