// tools/ptio/cmd_devices.cpp — `ptio devices [--json]`: the devices ptio can load onto here.
#include <string>
#include <vector>

#include "cli.hpp"
#include "json_output.hpp"
#include "output.hpp"
#include "ptio/device.hpp"
#include "units.hpp"

namespace ptio_cli {

namespace {

constexpr help_text help{
    .name = "devices",
    .summary = "list the devices ptio can load onto here",
    .synopsis = "usage: ptio devices [--json]",
    .description = R"(
List the devices a map_location may name on this machine: cpu, and cuda:N for every CUDA
device the driver reports (name, total and free memory). Without a CUDA build, a driver
or a GPU, only cpu is listed, and the reason is given.
)",
    .column = 14,
};

struct devices_args {
    std::vector<std::string> operands;
    bool json = false;
};

int run(const devices_args& args) {
    if (!args.operands.empty()) throw usage_error("devices takes no operands");
    const int n = ptio::cuda_device_count();
    output out;
    std::string& s = out.text();
    if (args.json) {
        json devices = json::array();
        devices.push_back({{"device", "cpu"},
                           {"name", nullptr},
                           {"total_bytes", nullptr},
                           {"free_bytes", nullptr}});
        for (int i = 0; i < n; ++i) {
            const auto mem = ptio::cuda_memory_info(i);
            devices.push_back({{"device", ptio::device::cuda(i).str()},
                               {"name", ptio::cuda_device_name(i)},
                               {"total_bytes", std::uint64_t{mem.total}},
                               {"free_bytes", std::uint64_t{mem.free}}});
        }
        print_json(out, {{"built_with_cuda", ptio::built_with_cuda()}, {"devices", devices}});
        return 0;
    }
    s += "cpu\n";
    for (int i = 0; i < n; ++i) {
        const auto mem = ptio::cuda_memory_info(i);
        s += ptio::device::cuda(i).str() + "  " + ptio::cuda_device_name(i) + "  " +
             human_bytes(mem.total) + " (" + human_bytes(mem.free) + " free)\n";
    }
    if (n == 0)
        s += ptio::built_with_cuda() ? "(no CUDA device: no driver or no GPU here)\n"
                                     : "(this ptio was built without CUDA)\n";
    return 0;
}

}  // namespace

command add_devices_command(CLI::App& ptio) {
    return add_command(ptio, help, run, [](CLI::App& app, devices_args& args) {
        add_flag(app, "--json", args.json,
                 R"(print {"built_with_cuda", "devices": [{"device", "name", "total_bytes",
"free_bytes"}]} (name and bytes are null for cpu))");
    });
}

}  // namespace ptio_cli
