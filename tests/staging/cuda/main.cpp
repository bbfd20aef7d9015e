// ptio_gpu_tests: the staging tests that need a CUDA device (tests/staging/cuda/staging_cuda.cpp).
//
// Without a device every test reports skipped (exit status 77, ctest's SKIP_RETURN_CODE), never
// failed; listing the tests (doctest_discover_tests runs --list-test-cases at build time, on
// machines without a GPU too) and doctest's other informational options behave as usual.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <initializer_list>
#include <string_view>

#include <ptio/device.hpp>

namespace {

// True when the command line asks doctest to list or describe rather than run tests.
bool informational(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        const auto start = arg.find_first_not_of('-');
        if (start == 0 || start == std::string_view::npos) continue;  // not an option
        arg.remove_prefix(start);
        if (arg.starts_with("dt-")) arg.remove_prefix(3);  // doctest's --dt- spellings
        arg = arg.substr(0, arg.find('='));
        for (std::string_view name :
             {"list-test-cases", "ltc", "list-test-suites", "lts", "list-reporters", "lr",
              "count", "c", "help", "h", "?", "version", "v", "no-run", "nr"})
            if (arg == name) return true;
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    if (!informational(argc, argv) && ptio::cuda_device_count() == 0) {
        std::puts("no CUDA device: skipped");
        return 77;
    }
    doctest::Context context(argc, argv);
    return context.run();
}
