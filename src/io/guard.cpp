// guard: one sigsetjmp per guarded read, one process-wide SIGBUS handler. The handler only
// reads this thread's chain of guards (thread-local) and jumps; everything that is not async-signal-safe (naming the file, building
// the message) happens after the jump, back in ordinary code.
#include "io/guard.hpp"

#include <setjmp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "ptio/error.hpp"

namespace ptio::detail {
namespace {

struct guard_frame {
    sigjmp_buf env;
    const std::byte* lo;
    const std::byte* hi;
    const std::byte* fault;
    guard_frame* prev;
};

// This thread's innermost guard; the handler walks outward from it. The default TLS model, not
// initial-exec: the library is also linked into a Python module that is dlopen'ed, where an
// initial-exec variable would force the module's whole TLS block (the static CUDA runtime's
// included) into the loader's small static TLS reserve, and the import fails. Executables get
// the fast model anyway (the linker relaxes the access). Reading it from the handler cannot
// allocate when it matters: a thread with a guard to jump to has already written it.
thread_local guard_frame* top_guard = nullptr;

struct sigaction previous_action;

void restore_default_and_raise(int sig) noexcept {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    (void)sigaction(sig, &dfl, nullptr);
    // SA_NODEFER left SIGBUS unblocked, so the raise ends the process here, with the signal
    // the fault would have had (and a core dump where those are on).
    (void)raise(sig);
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
    const auto* at = static_cast<const std::byte*>(info->si_addr);
    for (guard_frame* g = top_guard; g != nullptr; g = g->prev) {
        if (at >= g->lo && at < g->hi) {
            g->fault = at;
            top_guard = g;
            siglongjmp(g->env, 1);
        }
    }
    // Not ours: whoever handled SIGBUS before ptio does now.
    if ((previous_action.sa_flags & SA_SIGINFO) != 0) {
        if (previous_action.sa_sigaction != nullptr) previous_action.sa_sigaction(sig, info, context);
        return;
    }
    if (previous_action.sa_handler == SIG_DFL || previous_action.sa_handler == SIG_IGN) {
        // Ignoring a fault would re-run the faulting instruction for ever.
        restore_default_and_raise(sig);
        return;
    }
    previous_action.sa_handler(sig);
}

bool install_handler() noexcept {
    struct sigaction act {};
    act.sa_sigaction = on_sigbus;
    // SA_NODEFER: the jump out of the handler then leaves the mask as it was, so the guard
    // can use sigsetjmp(env, 0), which saves no mask (no system call per guard).
    act.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&act.sa_mask);
    return sigaction(SIGBUS, &act, &previous_action) == 0;
}

const std::uintptr_t page_size = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));

struct mapping {
    const std::byte* base;
    std::size_t size;
    std::string file;
    int fd;
};
std::mutex registry_mutex;
std::vector<mapping>& registry() {
    static auto* live = new std::vector<mapping>;  // never destroyed: mappings may outlive statics
    return *live;
}

}  // namespace

bool run_guarded(const std::byte* lo, std::size_t n, void (*fn)(void*) noexcept, void* ctx,
                 const std::byte*& fault) noexcept {
    static const bool installed = install_handler();
    (void)installed;
    guard_frame g;
    // Whole pages: a fault is reported at the address the instruction touched, which lies in
    // the range, but a vector load may start a little before it within the same page.
    const auto a = reinterpret_cast<std::uintptr_t>(lo);
    g.lo = reinterpret_cast<const std::byte*>(a / page_size * page_size);
    g.hi = reinterpret_cast<const std::byte*>((a + n + page_size - 1) / page_size * page_size);
    g.fault = nullptr;
    g.prev = top_guard;
    top_guard = &g;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (sigsetjmp(g.env, 0) == 0) {
        fn(ctx);
        std::atomic_signal_fence(std::memory_order_seq_cst);
        top_guard = g.prev;
        return true;
    }
    top_guard = g.prev;
    fault = g.fault;
    return false;
}

void guarded_copy(std::byte* dst, std::span<const std::byte> src, std::string_view record) {
    if (src.empty()) return;
    guarded(src, record, [dst, src]() noexcept { std::memcpy(dst, src.data(), src.size()); });
    check_still_mapped(src, record);
}

void check_still_mapped(std::span<const std::byte> range, std::string_view record) {
    if (range.empty()) return;
    std::string file;
    std::uint64_t now = 0;
    {
        std::lock_guard lock(registry_mutex);
        const auto& live = registry();
        const auto it = std::find_if(live.begin(), live.end(), [&](const mapping& m) {
            return range.data() >= m.base && range.data() < m.base + m.size;
        });
        if (it == live.end()) return;
        struct stat st {};
        const auto end = static_cast<std::uint64_t>(range.data() + range.size() - it->base);
        if (::fstat(it->fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) >= end) return;
        file = it->file;
        now = static_cast<std::uint64_t>(st.st_size);
    }
    throw_shrank(file, record, now);
}

void register_mapping(const std::byte* base, std::size_t size, std::string file, int fd) {
    std::lock_guard lock(registry_mutex);
    registry().push_back({base, size, std::move(file), fd});
}

void unregister_mapping(const std::byte* base) noexcept {
    std::lock_guard lock(registry_mutex);
    auto& live = registry();
    const auto it = std::find_if(live.begin(), live.end(), [&](const mapping& m) { return m.base == base; });
    if (it != live.end()) live.erase(it);
}

bool mapping_of(const std::byte* at, std::string* file, std::uint64_t* offset) {
    std::lock_guard lock(registry_mutex);
    for (const mapping& m : registry()) {
        if (at >= m.base && at < m.base + m.size) {
            *file = m.file;
            *offset = static_cast<std::uint64_t>(at - m.base);
            return true;
        }
    }
    return false;
}

void throw_shrank(const std::byte* at, std::string_view record) {
    std::string file;
    std::uint64_t offset = 0;
    if (!mapping_of(at, &file, &offset))
        throw error(errc::io_error, {}, std::string(record), std::nullopt, std::string(shrank_message));
    throw_shrank(file, record, offset);
}

void throw_shrank(const std::string& file, std::string_view record, std::uint64_t offset) {
    throw error(errc::io_error, file, std::string(record), offset, std::string(shrank_message));
}

}  // namespace ptio::detail
