// ptio/load.hpp — load a checkpoint onto devices, as torch.load(map_location=…) does.
//
//   auto m = ptio::load("model.pt", "cuda:0");
//   const ptio::device_tensor& w = m.at("fc.weight");
//   kernel<<<…>>>(reinterpret_cast<const float*>(w.data()), …);   // device memory
//
// Each storage goes to the device map_location picks (map_location.hpp). A CPU destination is
// a zero-copy view of the file's mapping (or a copy-on-write view you may write, or an owned
// copy, by option). A CUDA destination gets owned device memory: the storage's bytes are
// read by several threads from the file into a pool of pinned host chunks, and each chunk
// drains to the GPU with cudaMemcpyAsync on a non-default stream while the next fills, so
// reading, staging and the PCIe transfer overlap. Storages of one device share one allocation
// (each at a 256-byte aligned offset) unless options ask for one allocation per storage;
// tensors that view one storage share its device memory and keep their dtype, shape, strides
// and offset. Meta destinations give tensors without data.
//
// Ownership: a `loaded` owns the checkpoint it read (so CPU views stay valid) and every device
// allocation; destroying it cancels unfinished work, waits for copies in flight and frees
// everything. Staging buffers belong to a `stager` and are never handed out.
// Thread-safety: a loaded's const methods may be called from many threads, also while a load
// started with wait=false is still streaming; device_tensor::wait() blocks until that tensor's
// bytes are on its device.
// Failure: ptio::error — cuda_unavailable (no such device), unknown_location (a saved tag
// with no device here), out_of_memory (device memory), cancelled (the progress callback or
// cancel() stopped the load), and any error reading a storage (bad local header, deflate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ptio/checkpoint.hpp"
#include "ptio/device.hpp"
#include "ptio/map_location.hpp"
#include "ptio/stager.hpp"

namespace ptio {

namespace detail {
struct load_job;
}

/// What a CPU destination gets.
enum class cpu_placement : unsigned char {
    view,           ///< read-only view of the mapping (zero-copy)
    copy_on_write,  ///< writable view of a private mapping; writes never reach the file
    copy,           ///< owned copy of each storage (for data that must outlive the file)
};

/// How device memory is allocated.
enum class device_allocation : unsigned char {
    per_device,   ///< one allocation per device per load, storages at 256-byte offsets
    per_storage,  ///< one allocation per storage
};

/// How copy threads read a stored record's bytes out of a file.
enum class file_read : unsigned char {
    /// pread(2) straight into the pinned chunk: no page of the mapping is touched, so the
    /// process's resident memory stays at the pinned pool. Runs under 64 KiB are memcpy'd
    /// from the mapping instead (one call each would cost more than the bytes).
    pread,
    /// memcpy from the mapping, pages mapped in one call per piece and released after.
    mmap,
};

struct load_options {
    /// Used when load opens the file itself (copy_on_write is set for cpu_placement::copy_on_write).
    open_options open{};
    cpu_placement cpu = cpu_placement::view;
    device_allocation allocation = device_allocation::per_device;
    /// Threads copying out of the file; 0: up to 12, at most the hardware's count.
    unsigned threads = 0;
    file_read read = file_read::pread;
    /// True: load returns once every tensor is in place. False: load returns as soon as
    /// memory is allocated and the copies started; use device_tensor::wait() or
    /// loaded::wait().
    bool wait = true;
    /// Called from a loading thread (one call at a time) after each chunk lands, with bytes
    /// done and the total to move; returning false cancels the load.
    std::function<bool(std::uint64_t done, std::uint64_t total)> progress;
    /// Pinned pool to use; nullptr: stager::shared().
    stager* staging = nullptr;
};

/// A tensor placed on its device.
class device_tensor {
public:
    /// The tensor as the file describes it: dtype, shape, strides, offset, saved location,
    /// requires_grad, conj/neg flags.
    [[nodiscard]] const ptio::tensor& source() const noexcept { return *source_; }
    [[nodiscard]] const ptio::device& device() const noexcept { return device_; }
    [[nodiscard]] ptio::dtype dtype() const noexcept { return source_->dtype(); }
    [[nodiscard]] std::span<const std::int64_t> shape() const noexcept { return source_->shape(); }
    [[nodiscard]] std::span<const std::int64_t> strides() const noexcept {
        return source_->view().strides();
    }
    [[nodiscard]] std::int64_t storage_offset() const noexcept {
        return source_->view().storage_offset();
    }
    [[nodiscard]] std::uint64_t nbytes() const noexcept { return source_->view().nbytes(); }

    /// Start of the tensor's storage on its device: a host address for CPU, a device address
    /// for CUDA, nullptr for meta. Read it only once ready() (or after wait()).
    [[nodiscard]] const std::byte* storage_data() const noexcept { return storage_; }
    [[nodiscard]] std::uint64_t storage_nbytes() const noexcept { return storage_nbytes_; }
    /// Address of the element at all-zero indices (storage_data() + offset × element size).
    [[nodiscard]] const std::byte* data() const noexcept;
    /// Writable address, for a CUDA tensor or a CPU copy or copy-on-write view; throws
    /// invalid_argument for a read-only CPU view or a meta tensor.
    [[nodiscard]] std::byte* mutable_data() const;
    /// True when mutable_data() would succeed: CUDA memory, a CPU copy or copy-on-write view.
    [[nodiscard]] bool writable() const noexcept;

    /// True once the bytes are on the device (always for CPU views and meta).
    [[nodiscard]] bool ready() const noexcept;
    /// Block until ready(); throws the load's error, or cancelled if it stopped first.
    void wait() const;

    /// Copy the storage's bytes back into host memory (exactly storage_nbytes() long), for
    /// checks and debugging. Waits first.
    void copy_storage_to_host(std::span<std::byte> out) const;

    struct maker;  ///< opaque: how the staging engine places tensors (its private headers)

private:
    device_tensor(const ptio::tensor* src, ptio::device dev, std::byte* storage,
                  std::uint64_t nbytes, const detail::load_job* job, std::size_t slot) noexcept
        : source_(src), device_(dev), storage_(storage), storage_nbytes_(nbytes), job_(job),
          slot_(slot) {}

    const ptio::tensor* source_;
    ptio::device device_;
    std::byte* storage_;
    std::uint64_t storage_nbytes_;
    const detail::load_job* job_;
    std::size_t slot_;  // the storage's index in the job
};

/// One tensor reachable from the root, placed; in the order of checkpoint::tensors().
/// The path and name are the source checkpoint's views (see named_tensor): valid while the
/// loaded checkpoint lives.
struct named_device_tensor {
    std::span<const std::string_view> path;
    std::string_view name;
    const device_tensor* tensor = nullptr;
};

/// Per device: what a load put there.
struct device_summary {
    ptio::device device;
    std::size_t tensors = 0;
    std::size_t storages = 0;
    std::uint64_t bytes = 0;        ///< storage bytes placed
    std::size_t allocations = 0;    ///< device (or host copy) allocations made
};

/// A checkpoint loaded onto its devices.
class loaded {
public:
    loaded(loaded&&) noexcept;
    loaded& operator=(loaded&&) noexcept;
    loaded(const loaded&) = delete;
    loaded& operator=(const loaded&) = delete;
    ~loaded();

    /// The checkpoint read (its root(), tensors() and records()).
    [[nodiscard]] const checkpoint& source() const noexcept;
    /// The unpickled object; for a tensor in it, placement() gives where it went.
    [[nodiscard]] const value& root() const noexcept;
    [[nodiscard]] std::span<const named_device_tensor> tensors() const noexcept;
    [[nodiscard]] const named_device_tensor* find(std::string_view name) const;
    /// Throws not_found.
    [[nodiscard]] const device_tensor& at(std::string_view name) const;
    /// The placement of a tensor of source(); throws not_found for another tensor.
    [[nodiscard]] const device_tensor& placement(const ptio::tensor& t) const;

    /// One row per device used, CPU first, then CUDA by ordinal, then meta.
    [[nodiscard]] std::vector<device_summary> summary() const;
    /// Bytes the load moves (CUDA and CPU copies; views move none).
    [[nodiscard]] std::uint64_t bytes_to_move() const noexcept;
    /// True once every tensor is ready.
    [[nodiscard]] bool ready() const noexcept;
    /// Block until every tensor is ready; throws the load's error or cancelled.
    void wait() const;
    /// Stop a load started with wait=false: copies in flight finish, no new one starts,
    /// tensors not yet ready stay unready (their wait() throws cancelled). Memory is freed
    /// when the loaded is destroyed.
    void cancel() noexcept;

    struct impl;  ///< opaque

private:
    friend loaded load(checkpoint&&, const map_location&, const load_options&);
    explicit loaded(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> impl_;
};

/// Open a file and load it. `options.open` is used for the open.
[[nodiscard]] loaded load(const std::filesystem::path& path, const map_location& where = {},
                          const load_options& options = {});
/// Load bytes the loaded takes over (like torch.load of an io.BytesIO).
[[nodiscard]] loaded load(std::vector<std::byte>&& bytes, const map_location& where = {},
                          const load_options& options = {}, std::string name = "<memory>");
/// Load an open checkpoint, which the loaded takes over.
[[nodiscard]] loaded load(checkpoint&& ck, const map_location& where = {},
                          const load_options& options = {});

}  // namespace ptio
