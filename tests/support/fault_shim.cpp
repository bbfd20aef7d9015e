// fault_shim — an LD_PRELOAD library that makes file faults happen on cue in a ptio process,
// for tests/cli_faults.py. Each fault is asked for by an environment variable:
//
//   PTIO_SHIM_SHRINK=PATH:SIZE  truncate PATH to SIZE bytes at the first madvise(MADV_NORMAL),
//                               which ptio calls on a mapping once a checkpoint is open (the
//                               file then shrinks under a live mapping, as when torch.save
//                               rewrites it in place); prints "ptio-shim: shrank" on stderr.
//   PTIO_SHIM_KILL=BYTES:SIGNAL send SIGNAL to the process once BYTES have been written to
//                               descriptors other than 0, 1 and 2 (a copy killed mid-write).
//   PTIO_SHIM_NO_TMPFILE=1      open(…, O_TMPFILE) fails with EOPNOTSUPP, as on a file system
//                               without unnamed files.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

template <class F>
F next(const char* name) {
    return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

bool shrunk = false;
unsigned long long written = 0;
bool killed = false;

bool refuse_tmpfile(int flags) {
    const char* v = std::getenv("PTIO_SHIM_NO_TMPFILE");
    return v && *v == '1' && (flags & O_TMPFILE) == O_TMPFILE;
}

int open_with(const char* name, const char* path, int flags, mode_t mode) {
    if (refuse_tmpfile(flags)) {
        errno = EOPNOTSUPP;
        return -1;
    }
    using open_fn = int (*)(const char*, int, ...);
    return next<open_fn>(name)(path, flags, mode);
}

mode_t mode_arg(int flags, va_list ap) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

}  // namespace

extern "C" {

int madvise(void* addr, size_t len, int advice) {
    using fn = int (*)(void*, size_t, int);
    const int rc = next<fn>("madvise")(addr, len, advice);
    const char* spec = std::getenv("PTIO_SHIM_SHRINK");
    if (advice == MADV_NORMAL && spec && !shrunk) {
        shrunk = true;
        const std::string s = spec;
        const auto colon = s.rfind(':');
        const std::string path = s.substr(0, colon);
        if (::truncate(path.c_str(), static_cast<off_t>(std::strtoll(s.c_str() + colon + 1, nullptr, 10))) == 0)
            (void)!::write(2, "ptio-shim: shrank\n", 18);
    }
    return rc;
}

ssize_t write(int fd, const void* buf, size_t n) {
    using fn = ssize_t (*)(int, const void*, size_t);
    const ssize_t rc = next<fn>("write")(fd, buf, n);
    const char* spec = std::getenv("PTIO_SHIM_KILL");
    if (spec && fd > 2 && rc > 0 && !killed) {
        written += static_cast<unsigned long long>(rc);
        char* colon = nullptr;
        const unsigned long long limit = std::strtoull(spec, &colon, 10);
        if (written >= limit && colon && *colon == ':') {
            killed = true;
            (void)::kill(::getpid(), std::atoi(colon + 1));
        }
    }
    return rc;
}

int open(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return open_with("open", path, flags, mode);
}

// One function under both names: on 64-bit glibc they are the same call.
int open64(const char* path, int flags, ...) __attribute__((alias("open")));

}  // extern "C"
