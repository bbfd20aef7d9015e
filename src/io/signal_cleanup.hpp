// signal_cleanup — temporary names removed when a signal ends the process.
//
// Where the file system cannot create an unnamed file (no O_TMPFILE), file_sink writes under a
// temporary name; SIGINT, SIGTERM or SIGHUP arriving before the rename would leave it behind.
// While at least one name is registered, a handler for those signals (installed only where
// their action is the default) unlinks every registered name and then does what the signal
// did before: the default action (re-raised, so the process still dies of the signal) or the
// handler that was there. SIGXFSZ is ignored while any file_sink lives, so a write past
// `ulimit -f` fails with EFBIG (an io_error) instead of killing the process.
//
// Ownership: a registration is an RAII object; the handlers go when the last one does.
// Thread safety: registrations from any thread; the handler does only async-signal-safe work
// (unlink, sigaction, raise) on a fixed table. Failure: never throws; a name longer than
// PATH_MAX or a table already full (16 names) is simply not removed on a signal.
#pragma once

#include <string>

namespace ptio::detail {

/// Keeps SIGXFSZ ignored while it lives (unless the program handles it itself).
class file_size_signal_off {
public:
    file_size_signal_off() noexcept;
    ~file_size_signal_off();
    file_size_signal_off(const file_size_signal_off&) = delete;
    file_size_signal_off& operator=(const file_size_signal_off&) = delete;
};

/// `path` is unlinked if SIGINT, SIGTERM or SIGHUP arrives while this lives.
class remove_on_signal {
public:
    explicit remove_on_signal(const std::string& path) noexcept;
    ~remove_on_signal();
    remove_on_signal(const remove_on_signal&) = delete;
    remove_on_signal& operator=(const remove_on_signal&) = delete;

private:
    int slot_ = -1;
};

}  // namespace ptio::detail
