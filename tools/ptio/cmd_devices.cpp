// tools/ptio/cmd_devices.cpp — `ptio devices [--json]`: the devices ptio can load onto here.
#include <string>

#include "command.hpp"
#include "json.hpp"
#include "output.hpp"
#include "ptio/device.hpp"
#include "units.hpp"

namespace ptio_cli {

namespace {

constexpr std::string_view usage = R"(usage: ptio devices [--json]

List the devices a map_location may name on this machine: cpu, and cuda:N for every CUDA
device the driver reports (name, total and free memory). Without a CUDA build, a driver
or a GPU, only cpu is listed, and the reason is given.

options:
  --json      print {"built_with_cuda", "devices": [{"device", "name", "total_bytes",
              "free_bytes"}]} (name and bytes are null for cpu)
  -h, --help  show this help
)";

constexpr option_spec options[] = {
    {"json", '\0', false},
};

int run(const parsed_args& args) {
    if (!args.positional.empty()) throw usage_error("devices takes no operands");
    const int n = ptio::cuda_device_count();
    output out;
    std::string& s = out.text();
    if (args.has("json")) {
        json::writer w(s);
        w.begin_object().key("built_with_cuda").boolean(ptio::built_with_cuda());
        w.key("devices").begin_array(true);
        w.begin_object().key("device").string("cpu").key("name").null();
        w.key("total_bytes").null().key("free_bytes").null().end_object();
        for (int i = 0; i < n; ++i) {
            const auto mem = ptio::cuda_memory_info(i);
            w.begin_object().key("device").string(ptio::device::cuda(i).str());
            w.key("name").string(ptio::cuda_device_name(i));
            w.key("total_bytes").number(std::uint64_t{mem.total});
            w.key("free_bytes").number(std::uint64_t{mem.free}).end_object();
        }
        w.end_array().end_object();
        s += '\n';
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

const command& devices_command() {
    static const command c{"devices", "list the devices ptio can load onto here", usage, options, run};
    return c;
}

}  // namespace ptio_cli
