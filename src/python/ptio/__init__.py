"""ptio: read torch.save files fast and safely, as torch tensors, with no pickle code run.

    import ptio
    sd = ptio.load("model.pt")                      # like torch.load(..., weights_only=True)
    sd = ptio.load("model.pt", map_location="cuda:0")
    ptio.save(sd, "copy.pt")                        # like torch.save, without copying tensors

The C++ core (ptio._ptio) maps the file, rebuilds the pickled tree with an unpickler that
never calls anything, and hands every tensor over without copying its bytes.
"""

from . import _ptio
from ._ptio import TensorExport
from ._errors import Error
from ._load import StorageInfo, load
from ._objects import Opaque
from ._open import Checkpoint, TensorInfo, open  # noqa: A004 - ptio.open, as safe_open
from ._save import save

__version__ = _ptio.__version__
__all__ = ["Checkpoint", "Error", "Opaque", "StorageInfo", "TensorExport", "TensorInfo", "load", "open",
           "save"]
