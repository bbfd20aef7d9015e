// loaded and device_tensor: the public face of a load (job.hpp does the work).
#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "ptio/error.hpp"
#include "ptio/load.hpp"
#include "staging/backend.hpp"
#include "staging/job.hpp"

namespace ptio {

struct loaded::impl {
    explicit impl(checkpoint&& c) : ck(std::move(c)) {}
    checkpoint ck;
    std::unique_ptr<detail::load_job> job;  // declared after ck: destroyed (joined) first
    std::vector<device_tensor> placed;      // one per distinct tensor
    std::unordered_map<const tensor*, std::size_t> by_tensor;
    std::vector<named_device_tensor> named;
    mutable std::once_flag by_name_once;
    mutable std::unordered_map<std::string_view, std::size_t> by_name;
};

const std::byte* device_tensor::data() const noexcept {
    return storage_ ? storage_ + source_->view().data_offset() : nullptr;
}

bool device_tensor::writable() const noexcept {
    if (device_.is_meta()) return false;
    const bool cpu_view = device_.is_cpu() && job_->plan.slots[slot_].alloc == detail::load_job::npos;
    return !cpu_view || job_->plan.writable_views;
}

std::byte* device_tensor::mutable_data() const {
    if (device_.is_meta()) throw error(errc::invalid_argument, "a meta tensor has no data");
    if (!writable())
        throw error(errc::invalid_argument,
                    "a read-only view of the file: load with cpu_placement::copy_on_write or "
                    "copy to write to it");
    return storage_ ? storage_ + source_->view().data_offset() : nullptr;  // empty storage
}

bool device_tensor::ready() const noexcept { return job_->slot_ready(slot_); }
void device_tensor::wait() const { job_->wait_slot(slot_); }

void device_tensor::copy_storage_to_host(std::span<std::byte> out) const {
    if (out.size() != storage_nbytes_)
        throw error(errc::invalid_argument, "copy_storage_to_host: the buffer has " +
                                                std::to_string(out.size()) + " bytes, the storage " +
                                                std::to_string(storage_nbytes_));
    wait();
    if (storage_nbytes_ == 0) return;
    if (device_.is_cuda())
        detail::gpu::copy_to_host(device_.ordinal(), out.data(), storage_, out.size());
    else
        std::copy_n(storage_, out.size(), out.data());
}

loaded::loaded(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
loaded::loaded(loaded&&) noexcept = default;
loaded& loaded::operator=(loaded&&) noexcept = default;
loaded::~loaded() = default;

const checkpoint& loaded::source() const noexcept { return impl_->ck; }
const value& loaded::root() const noexcept { return impl_->ck.root(); }
std::span<const named_device_tensor> loaded::tensors() const noexcept { return impl_->named; }

const named_device_tensor* loaded::find(std::string_view name) const {
    std::call_once(impl_->by_name_once, [&p = *impl_] {
        for (std::size_t i = 0; i < p.named.size(); ++i) p.by_name.try_emplace(p.named[i].name, i);
    });
    auto it = impl_->by_name.find(name);
    return it == impl_->by_name.end() ? nullptr : &impl_->named[it->second];
}

const device_tensor& loaded::at(std::string_view name) const {
    if (const auto* t = find(name)) return *t->tensor;
    throw error(errc::not_found, impl_->ck.file(), {}, std::nullopt,
                "no tensor named '" + std::string(name) + "'");
}

const device_tensor& loaded::placement(const tensor& t) const {
    auto it = impl_->by_tensor.find(&t);
    if (it == impl_->by_tensor.end())
        throw error(errc::not_found, impl_->ck.file(), {}, std::nullopt,
                    "the tensor is not one of this load's");
    return impl_->placed[it->second];
}

std::vector<device_summary> loaded::summary() const { return impl_->job->plan.summary(impl_->placed); }
std::uint64_t loaded::bytes_to_move() const noexcept { return impl_->job->plan.total; }
bool loaded::ready() const noexcept { return impl_->job->all_ready(); }
void loaded::wait() const { impl_->job->wait_all(); }
void loaded::cancel() noexcept { impl_->job->cancel(); }

loaded load(checkpoint&& ck, const map_location& where, const load_options& options) {
    auto p = std::make_unique<loaded::impl>(std::move(ck));
    p->job = std::make_unique<detail::load_job>(p->ck, where, options);
    const auto named = p->ck.tensors();
    p->named.reserve(named.size());
    p->placed.reserve(named.size());
    for (const named_tensor& nt : named) {
        auto [it, fresh] = p->by_tensor.try_emplace(nt.tensor, p->placed.size());
        if (fresh) p->placed.push_back(p->job->place(*nt.tensor));
    }
    for (const named_tensor& nt : named)
        p->named.push_back({nt.path, nt.name, &p->placed[p->by_tensor.at(nt.tensor)]});
    p->job->start();
    loaded out(std::move(p));
    if (options.wait) out.wait();  // on failure `out` dies: threads joined, memory freed
    return out;
}

loaded load(const std::filesystem::path& path, const map_location& where,
            const load_options& options) {
    open_options o = options.open;
    if (options.cpu == cpu_placement::copy_on_write) o.copy_on_write = true;
    return load(checkpoint::open(path, o), where, options);
}

loaded load(std::vector<std::byte>&& bytes, const map_location& where,
            const load_options& options, std::string name) {
    return load(checkpoint::open(std::move(bytes), options.open, std::move(name)), where, options);
}

}  // namespace ptio
