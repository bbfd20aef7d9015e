// core/stable_vector — an append-only sequence whose elements never move, in segments that
// double: segment k holds 8 << k elements.
//
// What std::deque gives (stable addresses under emplace_back) without its 512-byte blocks,
// which hold 5 of an 88-byte record and waste the rest, and without a malloc per block: a
// checkpoint of 100,000 tensors keeps its storages and tensors in 14 segments. A segment's
// pages are touched only as it fills. Indexing is a few shifts. Not thread-safe while
// appended to; reading elements already there is safe from any thread. Throws what T's
// constructor throws, or std::bad_alloc (an element that fails to construct is not added).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <iterator>
#include <new>
#include <utility>

namespace ptio::detail {

template <class T>
class stable_vector {
public:
    stable_vector() = default;
    stable_vector(const stable_vector&) = delete;
    stable_vector& operator=(const stable_vector&) = delete;
    ~stable_vector() {
        while (size_ > 0) (*this)[--size_].~T();
        for (std::size_t k = 0; k < segments_.size(); ++k)
            if (segments_[k]) ::operator delete(segments_[k], std::align_val_t{alignof(T)});
    }

    template <class... Args>
    T& emplace_back(Args&&... args) {
        const auto [k, at] = locate(size_);
        if (at == 0 && !segments_[k])
            segments_[k] = static_cast<T*>(::operator new(sizeof(T) * (first << k), std::align_val_t{alignof(T)}));
        T* p = new (segments_[k] + at) T(std::forward<Args>(args)...);
        ++size_;
        return *p;
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] T& operator[](std::size_t i) noexcept {
        const auto [k, at] = locate(i);
        return segments_[k][at];
    }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept {
        const auto [k, at] = locate(i);
        return segments_[k][at];
    }
    [[nodiscard]] T& back() noexcept { return (*this)[size_ - 1]; }

    template <class V>
    class basic_iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using pointer = V*;
        using reference = V&;
        basic_iterator() = default;
        basic_iterator(const stable_vector* v, std::size_t i) : v_(v), i_(i) {}
        reference operator*() const { return const_cast<V&>((*v_)[i_]); }
        pointer operator->() const { return &**this; }
        basic_iterator& operator++() {
            ++i_;
            return *this;
        }
        basic_iterator operator++(int) {
            auto old = *this;
            ++i_;
            return old;
        }
        bool operator==(const basic_iterator& o) const { return i_ == o.i_; }

    private:
        const stable_vector* v_ = nullptr;
        std::size_t i_ = 0;
    };
    using iterator = basic_iterator<T>;
    using const_iterator = basic_iterator<const T>;
    [[nodiscard]] iterator begin() noexcept { return {this, 0}; }
    [[nodiscard]] iterator end() noexcept { return {this, size_}; }
    [[nodiscard]] const_iterator begin() const noexcept { return {this, 0}; }
    [[nodiscard]] const_iterator end() const noexcept { return {this, size_}; }

private:
    static constexpr std::size_t first = 8;

    // Element i lives in segment k = floor(log2(i / first + 1)), after the first·(2^k - 1)
    // elements of the segments before it.
    static std::pair<std::size_t, std::size_t> locate(std::size_t i) noexcept {
        const std::size_t k = static_cast<std::size_t>(std::bit_width(i / first + 1)) - 1;
        return {k, i - first * ((std::size_t{1} << k) - 1)};
    }

    std::array<T*, 56> segments_{};  // 8 << 55 elements: more than any address space
    std::size_t size_ = 0;
};

}  // namespace ptio::detail
