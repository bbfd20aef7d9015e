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

}  // namespace detail

/// A non-owning, strided view of tensor elements.
class tensor_view {
public:
    /// An empty view: no data, float32, zero dimensions.
    tensor_view() noexcept : inline_{} {}
    tensor_view(const tensor_view& o) : inline_{} { copy_from(o); }
    tensor_view& operator=(const tensor_view& o) {
        if (this != &o) {
            release();
            copy_from(o);
        }
        return *this;
    }
    // A move takes the heap part or copies the inline one; the source keeps its fields but
    // loses its dimensions.
    tensor_view(tensor_view&& o) noexcept : inline_{} { take(o); }
    tensor_view& operator=(tensor_view&& o) noexcept {
        if (this != &o) {
            release();
            take(o);
        }
        return *this;
    }
    ~tensor_view() { release(); }

    [[nodiscard]] ptio::dtype dtype() const noexcept { return dtype_; }
    [[nodiscard]] std::span<const std::int64_t> shape() const noexcept { return {dims(), rank_}; }
    [[nodiscard]] std::span<const std::int64_t> strides() const noexcept { return {dims() + rank_, rank_}; }
    [[nodiscard]] std::size_t dim() const noexcept { return rank_; }
    [[nodiscard]] std::int64_t storage_offset() const noexcept { return offset_; }
    [[nodiscard]] std::int64_t numel() const noexcept {
        std::int64_t n = 1;
        for (const std::int64_t s : shape()) n *= s;  // checked for overflow when it was made
        return n;
    }
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

    // A checkpoint holds one view per tensor, so it is kept to 88 bytes: sizes and strides in
    // one block, inline up to rank 4 (a conv weight's), on the heap past that.
    static constexpr std::size_t inline_rank = 4;
    [[nodiscard]] bool dims_on_heap() const noexcept { return rank_ > inline_rank; }
    [[nodiscard]] const std::int64_t* dims() const noexcept { return dims_on_heap() ? heap_ : inline_; }
    void release() noexcept {
        if (dims_on_heap()) delete[] heap_;
        rank_ = 0;
    }
    void copy_from(const tensor_view& o) {
        const std::size_t n = 2 * std::size_t{o.rank_};
        std::int64_t* fresh = o.dims_on_heap() ? new std::int64_t[n] : nullptr;
        std::copy(o.dims(), o.dims() + n, fresh ? fresh : inline_);
        if (fresh) heap_ = fresh;
        fields_from(o);
    }
    void take(tensor_view& o) noexcept {
        if (o.dims_on_heap()) heap_ = o.heap_;
        else std::copy(o.inline_, o.inline_ + 2 * inline_rank, inline_);
        fields_from(o);
        o.rank_ = 0;
    }
    void fields_from(const tensor_view& o) noexcept {
        storage_ = o.storage_;
        offset_ = o.offset_;
        rank_ = o.rank_;
        dtype_ = o.dtype_;
        tensor_bits_ = o.tensor_bits_;
    }

    const detail::storage* storage_ = nullptr;
    std::int64_t offset_ = 0;
    union {
        std::int64_t inline_[2 * inline_rank];  // sizes, then strides
        std::int64_t* heap_;
    };
    std::uint16_t rank_ = 0;
    ptio::dtype dtype_ = ptio::dtype::float32;
    // ptio::tensor's flags, kept in the room the view leaves so a tensor is 96 bytes.
    friend class tensor;
    std::uint8_t tensor_bits_ = 0;
};

/// A tensor as torch.load would rebuild it: its view plus what the file says about it.
class tensor {
public:
    /// torch ≥ 2.0 saves a lazily conjugated (or negated) view as its stored elements plus a
    /// flag. The view's bytes are the stored elements; torch's values are their conjugate
    /// (negation). resolve_conj_neg() turns copied elements into torch's values.
    [[nodiscard]] bool is_conj() const noexcept { return bit(conj_bit); }
    [[nodiscard]] bool is_neg() const noexcept { return bit(neg_bit); }

    [[nodiscard]] const tensor_view& view() const noexcept { return view_; }
    /// The device tag saved with its storage: "cpu", "cuda:0", "meta", … The text is the
    /// checkpoint's (one per distinct tag): valid while the checkpoint lives, as the view is.
    [[nodiscard]] const std::string& location() const noexcept { return *location_; }
    [[nodiscard]] bool requires_grad() const noexcept { return bit(requires_grad_bit); }
    /// Saved as an nn.Parameter (through _rebuild_parameter).
    [[nodiscard]] bool is_parameter() const noexcept { return bit(parameter_bit); }
    /// Pickled as a numpy array or scalar (torch.load returns an np.ndarray or np.generic);
    /// its bytes are the ones inside the pickle.
    [[nodiscard]] bool is_numpy() const noexcept { return bit(numpy_bit); }
    /// A storage saved on its own (torch.save(t.storage()), a TypedStorage at any depth):
    /// torch.load returns a storage, not a tensor. ptio shows it as the 1-D tensor of all its
    /// elements; saving it (tree::tensor, ptio cp) writes a storage again.
    [[nodiscard]] bool is_storage() const noexcept { return bit(storage_bit); }

    // Shortcuts to the view.
    [[nodiscard]] ptio::dtype dtype() const noexcept { return view_.dtype(); }
    [[nodiscard]] std::span<const std::int64_t> shape() const noexcept { return view_.shape(); }

private:
    // Tensors are made inside ptio (detail::tensor_access), complete, while a checkpoint opens.
    // The location text is the checkpoint's (one per distinct tag, shared by its storages
    // and tensors), valid as long as the checkpoint, as the view's storage is.
    friend class detail::tensor_access;
    tensor(tensor_view view, const std::string& location) : view_(std::move(view)), location_(&location) {
        view_.tensor_bits_ = 0;
    }

    enum flag_bit : std::uint8_t {
        requires_grad_bit = 1,
        parameter_bit = 2,
        conj_bit = 4,
        neg_bit = 8,
        numpy_bit = 16,
        storage_bit = 32,
    };
    [[nodiscard]] bool bit(flag_bit b) const noexcept { return (view_.tensor_bits_ & b) != 0; }
    void set(flag_bit b, bool on) noexcept {
        view_.tensor_bits_ = static_cast<std::uint8_t>(on ? view_.tensor_bits_ | b : view_.tensor_bits_ & ~b);
    }

    tensor_view view_;  // carries the flags above (tensor_bits_)
    const std::string* location_;
};

/// Apply torch's lazy conjugate and negation to contiguous elements of `type` in place:
/// conj flips the sign of each imaginary part (complex types), neg the sign of every value
/// (floating types by their sign bit, integers by two's complement). Throws
/// invalid_argument for a size that is not a whole number of elements.
void resolve_conj_neg(std::span<std::byte> elements, ptio::dtype type, bool conj, bool neg);

}  // namespace ptio
