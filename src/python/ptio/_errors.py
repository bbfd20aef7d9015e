"""ptio.Error and the exception classes ptio raises.

ptio.Error is a RuntimeError carrying what the C++ library's ptio::error carries: `.code` (the
errc name: "bad_zip", "forbidden_global", ...), `.file`, `.record` and `.offset` (None where
they do not apply). Where Python has a better-known class for the same failure, the exception is
also an instance of it, so code written for torch.load keeps working:

- a path that does not exist: FileNotFoundError; a directory that is no sharded checkpoint:
  IsADirectoryError;
- a global outside torch's weights_only allowlist (weights_only=True): pickle.UnpicklingError,
  the class torch.load raises there;
- a key that is not in the checkpoint: KeyError.
"""

import errno
import os
import pickle

__all__ = ["Error"]


class Error(RuntimeError):
    """A failure ptio reports: a bad file, a missing device, a bad argument."""

    def __init__(self, message, code="invalid_argument", file=None, record=None, offset=None):
        super().__init__(message)
        self.code = code
        self.file = file or None
        self.record = record or None
        self.offset = offset

    def __reduce__(self):
        return (_rebuild, (type(self).__name__, str(self), self.code, self.file, self.record,
                           self.offset))


class _FileNotFound(Error, FileNotFoundError):
    def __init__(self, message, code, file, record, offset):
        Error.__init__(self, message, code, file, record, offset)
        self.errno, self.strerror, self.filename = errno.ENOENT, os.strerror(errno.ENOENT), file


class _IsADirectory(Error, IsADirectoryError):
    def __init__(self, message, code, file, record, offset):
        Error.__init__(self, message, code, file, record, offset)
        self.errno, self.strerror, self.filename = errno.EISDIR, os.strerror(errno.EISDIR), file


class _Forbidden(Error, pickle.UnpicklingError):
    pass


class _NotFound(Error, KeyError):
    def __str__(self):  # KeyError's str() would quote the message
        return RuntimeError.__str__(self)


_CLASSES = {c.__name__: c for c in (Error, _FileNotFound, _IsADirectory, _Forbidden, _NotFound)}


def _rebuild(name, message, code, file, record, offset):
    return _CLASSES[name](message, code, file, record, offset)


def make(code, message, file, record, offset):
    """The exception for a ptio::error (called by the C++ module's exception translator)."""
    cls = Error
    if code == "io_error" and file and not file.startswith("<"):
        if not os.path.lexists(file):
            cls = _FileNotFound
        elif os.path.isdir(file):
            cls = _IsADirectory
    elif code == "forbidden_global":
        cls = _Forbidden
    elif code == "not_found":
        cls = _NotFound
    return cls(message, code, file, record, offset)
