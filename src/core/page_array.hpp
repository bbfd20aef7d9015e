// core/page_array — a fixed-size array of a trivially copyable type for scratch that an open
// frees before it returns: from 64 KiB on, its own anonymous mapping, given back to the
// system when it dies.
//
// Why: malloc serves everything below its mmap threshold (128 KiB, and raised to the size of
// any mapped chunk freed, up to 32 MiB) from the heap, so megabytes of temporaries (the memo,
// the key index of a dict being unpickled) freed between the allocations an open keeps leave
// holes the process stays resident for. A mapping of its own leaves none. Smaller arrays come
// from new[], where a small file's open reuses what the last one freed. The contents start
// uninitialised. Throws std::bad_alloc. Not thread-safe; moves keep the elements' addresses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include <sys/mman.h>

namespace ptio::detail {

template <class T>
class page_array {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

public:
    static constexpr std::size_t map_from_bytes = std::size_t{64} << 10;

    page_array() noexcept = default;
    explicit page_array(std::size_t n) : size_(n) {
        if (n == 0) return;
        if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
        const std::size_t bytes = n * sizeof(T);
        if (bytes < map_from_bytes) {
            data_ = static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
            return;
        }
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        data_ = static_cast<T*>(p);
        mapped_ = true;
    }
    page_array(page_array&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
          mapped_(std::exchange(o.mapped_, false)) {}
    page_array& operator=(page_array&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
            mapped_ = std::exchange(o.mapped_, false);
        }
        return *this;
    }
    page_array(const page_array&) = delete;
    page_array& operator=(const page_array&) = delete;
    ~page_array() { release(); }

    [[nodiscard]] T* data() noexcept { return data_; }
    [[nodiscard]] const T* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] T& operator[](std::size_t i) noexcept { return data_[i]; }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    [[nodiscard]] T* begin() noexcept { return data_; }
    [[nodiscard]] T* end() noexcept { return data_ + size_; }

private:
    void release() noexcept {
        if (!data_) return;
        if (mapped_) ::munmap(data_, size_ * sizeof(T));
        else ::operator delete(data_, std::align_val_t{alignof(T)});
        data_ = nullptr;
        size_ = 0;
        mapped_ = false;
    }

    T* data_ = nullptr;
    std::size_t size_ = 0;
    bool mapped_ = false;
};

}  // namespace ptio::detail
