// ptio/tensor.hpp — tensors as views into a checkpoint's storage records.
//
// A tensor_view is dtype, shape, strides (in elements), storage offset (in elements) and the
// bytes of the storage it looks into. It never owns data: for a stored zip record the bytes
// are the file's mapping, so no byte is copied or even read until the caller reads it. Views
// that share a storage (slices, transposes, expand) point into the same bytes.
//
// Lifetime: valid while the checkpoint that produced it lives. Thread-safety: all methods are
// const and safe from many threads. Failure: geometry is checked when the checkpoint opens
// (every reachable element lies inside the storage); a storage's bytes are located on first
// access, so data(), storage_bytes() and the copies may throw ptio::error if the file's local
// header for that record is bad, or if it is deflated and does not inflate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ptio/dtype.hpp"

namespace ptio {

namespace detail {
class storage;
class tensor_access;

/// A tensor's sizes or strides: up to 4 (conv weights' rank) held inline, more on the heap.
/// 40 bytes: a checkpoint holds two per tensor.
class dim_list {
public:
    dim_list() noexcept : inline_{} {}
    explicit dim_list(std::span<const std::int64_t> v) : inline_{} { assign(v); }
    dim_list(const dim_list& o) : inline_{} { assign(o.span()); }
    dim_list& operator=(const dim_list& o) {
        if (this != &o) assign(o.span());
        return *this;
    }
    // Moves take the heap part or copy the inline one; the source is left empty.
    dim_list(dim_list&& o) noexcept : inline_{} { take(o); }
    dim_list& operator=(dim_list&& o) noexcept {
        if (this != &o) {
            release();
            take(o);
        }
        return *this;
    }
    ~dim_list() { release(); }
    [[nodiscard]] std::span<const std::int64_t> span() const noexcept {
        return {on_heap() ? heap_ : inline_, size_};
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::int64_t operator[](std::size_t i) const noexcept { return span()[i]; }

private:
    static constexpr std::size_t inline_dims = 4;
    [[nodiscard]] bool on_heap() const noexcept { return size_ > inline_dims; }
    void release() noexcept {
        if (on_heap()) delete[] heap_;
        size_ = 0;
    }
    void take(dim_list& o) noexcept {
        size_ = o.size_;
        if (o.on_heap()) heap_ = o.heap_;
        else std::copy(o.inline_, o.inline_ + inline_dims, inline_);
        o.size_ = 0;
    }
    void assign(std::span<const std::int64_t> v) {
        std::int64_t* fresh = v.size() > inline_dims ? new std::int64_t[v.size()] : nullptr;
        release();
        size_ = static_cast<std::uint32_t>(v.size());
        std::copy(v.begin(), v.end(), fresh ? fresh : inline_);
        if (fresh) heap_ = fresh;
    }
    std::uint32_t size_ = 0;
    union {
        std::int64_t inline_[inline_dims];
        std::int64_t* heap_;
    };
};
}  // namespace detail

/// A non-owning, strided view of tensor elements.
class tensor_view {
public:
    /// An empty view: no data, float32, zero dimensions.
    tensor_view() = default;

    [[nodiscard]] ptio::dtype dtype() const noexcept { return dtype_; }
    [[nodiscard]] std::span<const std::int64_t> shape() const noexcept { return shape_.span(); }
    [[nodiscard]] std::span<const std::int64_t> strides() const noexcept { return strides_.span(); }
    [[nodiscard]] std::size_t dim() const noexcept { return shape_.size(); }
    [[nodiscard]] std::int64_t storage_offset() const noexcept { return offset_; }
    [[nodiscard]] std::int64_t numel() const noexcept { return numel_; }
    [[nodiscard]] std::size_t element_size() const noexcept { return ptio::element_size(dtype_); }
    /// Bytes of the elements the view shows: numel × element size (for the packed quint4x2
    /// and quint2x4, the bytes that hold numel elements).
    [[nodiscard]] std::uint64_t nbytes() const noexcept;
    /// Row-major contiguous (torch's is_contiguous: size-1 dimensions ignore their stride).
    [[nodiscard]] bool is_contiguous() const noexcept;
    /// False for tensors without data (meta tensors, storage-less rebuilds).
    [[nodiscard]] bool has_data() const noexcept { return storage_ != nullptr; }

    /// The whole storage this view looks into (may be larger than the view). For a mapped
    /// file these are the mapping's pages: if the file shrinks while they are read, the
    /// reader gets SIGBUS. copy_to(), to_contiguous() and for_each_chunk() are the guarded
    /// reads (they throw io_error instead).
    [[nodiscard]] std::span<const std::byte> storage_bytes() const;
    /// Address of the element at all-zero indices (storage start + data_offset()); unguarded,
    /// as storage_bytes() is.
    [[nodiscard]] const std::byte* data() const;
    /// Byte offset of the element at all-zero indices from the storage's start (offset ×
    /// element size; 0 for a view without elements or data).
    [[nodiscard]] std::uint64_t data_offset() const noexcept;
    /// The storage key the file gives ("0"; its record is data/<key>), or "" without data.
    /// Storages of TorchScript constants carry their folder: "constants/0".
    [[nodiscard]] std::string_view storage_key() const noexcept;
    /// True when the bytes are ptio's own copy rather than the mapping (a deflated record or
    /// a foreign byte order).
    [[nodiscard]] bool is_copy() const;

    /// Byte offset (from storage start) of the element at `index` (one per dimension).
    [[nodiscard]] std::uint64_t byte_offset(std::span<const std::int64_t> index) const;
    /// The element at `index`, read as T (sizeof(T) must equal the element size). Throws
    /// invalid_argument on a wrong rank, an index out of range or a size mismatch.
    template <class T>
    [[nodiscard]] T at(std::initializer_list<std::int64_t> index) const {
        static_assert(std::is_trivially_copyable_v<T>);
        check_element_type(sizeof(T));
        T out;
        std::memcpy(&out, storage_bytes().data() + byte_offset(std::span(index.begin(), index.size())),
                    sizeof(T));
        return out;
    }

    /// Copy the elements in row-major order into `out` (exactly nbytes() long). A contiguous
    /// view is one memcpy; others walk the strides, innermost dimension as a block. Throws
    /// io_error ("the file shrank while it was being read") if the mapped file lost the pages
    /// being read, rather than dying of SIGBUS.
    void copy_to(std::span<std::byte> out) const;
    /// The same, into new owned memory.
    [[nodiscard]] std::vector<std::byte> to_contiguous() const;
    /// The elements in row-major order, handed to `sink` in pieces of at most `chunk_bytes`
    /// (at least one element), for consumers that must not hold a whole copy (hashing,
    /// writing). A contiguous view is read through its storage (a deflated record not yet in
    /// memory is inflated as a stream, never held whole); any other view is gathered into one
    /// buffer of that size. Either way the pieces are copies made under the same guard as
    /// copy_to (io_error if the file shrinks), so `sink` never reads the mapping itself.
    /// Spans are valid only during the call.
    void for_each_chunk(std::size_t chunk_bytes,
                        const std::function<void(std::span<const std::byte>)>& sink) const;

private:
    // Views are made inside ptio (detail::tensor_access) while a checkpoint opens.
    friend class detail::tensor_access;
    tensor_view(const detail::storage* storage, ptio::dtype type, std::span<const std::int64_t> shape,
                std::span<const std::int64_t> strides, std::int64_t storage_offset);

    void check_element_type(std::size_t size) const;
    // True when the view is one run of its storage (throws for a packed view that is not).
    [[nodiscard]] bool one_run() const;
    // The bytes of a view that is one run of its storage, or empty for any other view.
    [[nodiscard]] std::span<const std::byte> contiguous_bytes() const;
    // The one strided walk: fills `buf` in row-major order, calling flush(bytes used) when
    // the next piece would not fit and at the end. copy_to passes its output as `buf`.
    void gather_into(std::span<std::byte> buf, const std::function<void(std::size_t)>& flush) const;

    const detail::storage* storage_ = nullptr;
    ptio::dtype dtype_ = ptio::dtype::float32;
    detail::dim_list shape_;
    detail::dim_list strides_;
    std::int64_t offset_ = 0;
    std::int64_t numel_ = 1;
};

/// A tensor as torch.load would rebuild it: its view plus what the file says about it.
class tensor {
public:
    /// torch ≥ 2.0 saves a lazily conjugated (or negated) view as its stored elements plus a
    /// flag. The view's bytes are the stored elements; torch's values are their conjugate
    /// (negation). resolve_conj_neg() turns copied elements into torch's values.
    [[nodiscard]] bool is_conj() const noexcept { return conj_; }
    [[nodiscard]] bool is_neg() const noexcept { return neg_; }

    [[nodiscard]] const tensor_view& view() const noexcept { return view_; }
    /// The device tag saved with its storage: "cpu", "cuda:0", "meta", … The text is the
    /// checkpoint's (one per distinct tag): valid while the checkpoint lives, as the view is.
    [[nodiscard]] const std::string& location() const noexcept { return *location_; }
    [[nodiscard]] bool requires_grad() const noexcept { return requires_grad_; }
    /// Saved as an nn.Parameter (through _rebuild_parameter).
    [[nodiscard]] bool is_parameter() const noexcept { return is_parameter_; }
    /// Pickled as a numpy array or scalar (torch.load returns an np.ndarray or np.generic);
    /// its bytes are the ones inside the pickle.
    [[nodiscard]] bool is_numpy() const noexcept { return is_numpy_; }
    /// A storage saved on its own (torch.save(t.storage()), a TypedStorage at any depth):
    /// torch.load returns a storage, not a tensor. ptio shows it as the 1-D tensor of all its
    /// elements; saving it (tree::tensor, ptio cp) writes a storage again.
    [[nodiscard]] bool is_storage() const noexcept { return is_storage_; }

    // Shortcuts to the view.
    [[nodiscard]] ptio::dtype dtype() const noexcept { return view_.dtype(); }
    [[nodiscard]] std::span<const std::int64_t> shape() const noexcept { return view_.shape(); }

private:
    // Tensors are made inside ptio (detail::tensor_access), complete, while a checkpoint opens.
    // The location text is the checkpoint's (one per distinct tag, shared by its storages
    // and tensors), valid as long as the checkpoint, as the view's storage is.
    friend class detail::tensor_access;
    tensor(tensor_view view, const std::string& location) : view_(std::move(view)), location_(&location) {}

    tensor_view view_;
    const std::string* location_;
    bool requires_grad_ = false;
    bool is_parameter_ = false;
    bool conj_ = false;
    bool neg_ = false;
    bool is_numpy_ = false;
    bool is_storage_ = false;
};

/// Apply torch's lazy conjugate and negation to contiguous elements of `type` in place:
/// conj flips the sign of each imaginary part (complex types), neg the sign of every value
/// (floating types by their sign bit, integers by two's complement). Throws
/// invalid_argument for a size that is not a whole number of elements.
void resolve_conj_neg(std::span<std::byte> elements, ptio::dtype type, bool conj, bool neg);

}  // namespace ptio
