// signal_cleanup: a fixed table of names that a signal handler may read at any moment. A slot
// is filled, then published by its flag (release); the handler reads the flag (acquire) and
// unlinks. Handlers and the SIGXFSZ disposition change under one mutex, counted, so several
// sinks at once (threads saving in parallel) install and restore them once.
#include "io/signal_cleanup.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <climits>
#include <cstring>
#include <mutex>

namespace ptio::detail {
namespace {

constexpr std::size_t slots = 16;
constexpr std::array<int, 3> fatal = {SIGINT, SIGTERM, SIGHUP};

struct slot {
    std::atomic<bool> used{false};
    char path[PATH_MAX];
};
std::array<slot, slots> table;

std::mutex state_mutex;
int names = 0;              // registered names (under state_mutex)
int size_guards = 0;        // live file_size_signal_off (under state_mutex)
std::array<struct sigaction, fatal.size()> before{};
std::array<bool, fatal.size()> installed{};
struct sigaction xfsz_before {};
bool xfsz_changed = false;

void on_fatal(int sig) {
    for (slot& s : table)
        if (s.used.load(std::memory_order_acquire)) (void)::unlink(s.path);
    for (std::size_t i = 0; i < fatal.size(); ++i) {
        if (fatal[i] != sig) continue;
        const struct sigaction& prev = before[i];
        if ((prev.sa_flags & SA_SIGINFO) == 0 && prev.sa_handler != SIG_DFL &&
            prev.sa_handler != SIG_IGN) {
            prev.sa_handler(sig);
            return;
        }
    }
    // The default action, as if ptio had never been here: the process dies of the signal.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    (void)::sigaction(sig, &dfl, nullptr);
    (void)::raise(sig);  // delivered once this handler returns and unblocks it
}

void install_locked() {
    for (std::size_t i = 0; i < fatal.size(); ++i) {
        struct sigaction cur {};
        if (::sigaction(fatal[i], nullptr, &cur) != 0) continue;
        // Only over the default action, or a plain handler that we call after unlinking; an
        // ignored signal never ends the process, and a SA_SIGINFO handler is left alone.
        if ((cur.sa_flags & SA_SIGINFO) != 0 || cur.sa_handler == SIG_IGN) continue;
        struct sigaction act {};
        act.sa_handler = on_fatal;
        sigemptyset(&act.sa_mask);
        act.sa_flags = SA_RESTART;
        if (::sigaction(fatal[i], &act, &before[i]) == 0) installed[i] = true;
    }
}

void restore_locked() {
    for (std::size_t i = 0; i < fatal.size(); ++i)
        if (installed[i]) {
            (void)::sigaction(fatal[i], &before[i], nullptr);
            installed[i] = false;
        }
}

}  // namespace

file_size_signal_off::file_size_signal_off() noexcept {
    std::lock_guard lock(state_mutex);
    if (size_guards++ > 0) return;
    struct sigaction cur {};
    if (::sigaction(SIGXFSZ, nullptr, &cur) != 0 || (cur.sa_flags & SA_SIGINFO) != 0 ||
        cur.sa_handler != SIG_DFL)
        return;
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    xfsz_changed = ::sigaction(SIGXFSZ, &ign, &xfsz_before) == 0;
}

file_size_signal_off::~file_size_signal_off() {
    std::lock_guard lock(state_mutex);
    if (--size_guards > 0 || !xfsz_changed) return;
    (void)::sigaction(SIGXFSZ, &xfsz_before, nullptr);
    xfsz_changed = false;
}

remove_on_signal::remove_on_signal(const std::string& path) noexcept {
    if (path.size() >= PATH_MAX) return;
    std::lock_guard lock(state_mutex);
    for (std::size_t i = 0; i < slots; ++i) {
        if (table[i].used.load(std::memory_order_relaxed)) continue;
        std::memcpy(table[i].path, path.c_str(), path.size() + 1);
        table[i].used.store(true, std::memory_order_release);
        slot_ = static_cast<int>(i);
        if (names++ == 0) install_locked();
        return;
    }
}

remove_on_signal::~remove_on_signal() {
    if (slot_ < 0) return;
    std::lock_guard lock(state_mutex);
    table[static_cast<std::size_t>(slot_)].used.store(false, std::memory_order_release);
    if (--names == 0) restore_locked();
}

}  // namespace ptio::detail
