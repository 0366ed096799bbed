"""ImageStack: a mutable, list-like series that spills least recently used frames to disk.

Frames stay in memory until the stack would exceed its budget; then the
least recently used ones are written to a flat file in a private scratch
directory (one slot of the frame's bytes each, so writes of different slots
need no lock) and only their slot number stays in memory.  A flat file, not a
Zarr array: zarr's encoding and decoding buffers, in its own threads, cost
several frames of memory per access, which the budget is there to bound.  Reading a spilled frame
brings it back into memory, where it stays until the budget is hit again.
Slots freed by deletions and replacements are reused.
"""

from __future__ import annotations

import itertools
import errno
import os
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Self

import numpy as np

from ops import Region
from pipeline import dtypes
from pipeline.disk import make_scratch, remove_scratch
from pipeline.dtypes import limits
from pipeline.errors import (
    ClosedSeriesError,
    DiskFullError,
    EmptySeriesError,
    FrameShapeError,
    OptionValueError,
)
from pipeline.series import FrameSelection, ImageSeries, counted, region_index

DEFAULT_MEMORY_FRACTION = 0.25
"""Share of the memory available at construction a stack may use when given no budget."""


def available_memory() -> int:
    """Bytes of memory available now (psutil if installed, else ``os.sysconf``)."""
    try:
        import psutil
    except ImportError:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return int(psutil.virtual_memory().available)


def memory_budget(max_memory_mb: float | None, max_memory_fraction: float | None) -> int:
    """The budget in bytes from either a size in MiB or a fraction of available memory."""
    if max_memory_mb is not None and max_memory_fraction is not None:
        raise OptionValueError(
            f"give max_memory_mb ({max_memory_mb!r}) or max_memory_fraction "
            f"({max_memory_fraction!r}), not both"
        )
    if max_memory_mb is not None:
        if isinstance(max_memory_mb, bool) or not isinstance(max_memory_mb, int | float) \
                or not max_memory_mb >= 0:
            raise OptionValueError(f"max_memory_mb must be >= 0, got {max_memory_mb!r}")
        return int(max_memory_mb * 2**20)
    fraction = DEFAULT_MEMORY_FRACTION if max_memory_fraction is None else max_memory_fraction
    if not 0 < fraction <= 1:
        raise OptionValueError(f"max_memory_fraction must be in (0, 1], got {fraction!r}")
    return int(fraction * available_memory())


def convert(frame: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A copy of ``frame`` in ``dtype``; values the dtype cannot hold are refused, never wrapped.

    :func:`pipeline.dtypes.convert` with the ``"round"`` policy: floats going to
    integers are rounded to the nearest integer; NaN or infinity, or any value
    outside the target range, raises ValueRangeError (a ValueError) naming
    the frame's range and the dtype's.
    """
    lo, hi = limits(np.dtype(dtype))
    return dtypes.convert(frame, dtype, "round", what="frame values", copy=True, hint=(
        f"clip the frame first (np.clip(frame, {lo}, {hi})) or make the stack with a wider "
        "dtype"))


class ImageStack(ImageSeries):
    """A mutable, list-like series holding frames in memory up to a budget, the rest on disk.

    Parameters
    ----------
    dtype
        The frames' dtype; default: the first frame's.  Frames of another
        dtype are converted by :func:`convert`: a value the dtype cannot hold
        raises ValueError (no wrap-around, no silent clipping).
    max_memory_mb, max_memory_fraction
        The budget: MiB, or a fraction of the memory available when the stack
        is made (default :data:`DEFAULT_MEMORY_FRACTION`).  Not both.
    scratch_dir
        Where the spill store's private directory is made; default:
        :func:`pipeline.get_scratch_dir`.
    metadata
        The stack's metadata dict.

    Notes
    -----
    ``append``, ``extend``, ``insert``, ``st[i] = frame`` and ``del st[i]``
    work as for a list (frames of the first frame's shape only); ``st[i]``,
    ``st[a:b]``, iteration, ``process``, ``to_dask`` and ``pipeline.write``
    as for any series.  A sub-series or processed series over a stack sees its
    later changes.  Mutating the stack while a computation over it runs is
    not supported.

    The scratch store is removed when the stack is closed (``close()`` or
    leaving ``with ImageStack(...) as st:``) or garbage-collected; a copy
    written with ``pipeline.write`` is an ordinary store and survives.

    A stack pickles as its frames: unpickling gives a new, independent stack
    with the same frames, dtype, budget and metadata and its own scratch
    store.  The frames travel as they are, never stacked into one array:
    those in memory as they are held, spilled ones mapped from the spill
    file, without reading them back (with pickle protocol 5, which
    dask.distributed uses, as out-of-band buffers, so pickling copies no
    frame).  While such a pickle lives, the slots it maps are not rewritten.
    It is not a small recipe, so on dask.distributed every task shipping
    it carries all its frames; ``pipeline.write`` (or ``materialize``) it
    first and compute over the store instead.
    """

    def __init__(self, dtype: Any = None, max_memory_mb: float | None = None,
                 max_memory_fraction: float | None = None,
                 scratch_dir: str | os.PathLike[str] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._budget = memory_budget(max_memory_mb, max_memory_fraction)
        try:
            self._dtype = None if dtype is None else np.dtype(dtype)
        except TypeError as err:
            raise OptionValueError(f"ImageStack: dtype={dtype!r:.80} is not a numpy dtype "
                                   f"({err})") from None
        self._shape: tuple[int, ...] | None = None
        self._meta = {} if metadata is None else metadata
        if not isinstance(scratch_dir, str | os.PathLike | None):
            raise OptionValueError(f"ImageStack: scratch_dir is a path or None, got "
                                   f"{type(scratch_dir).__name__} {scratch_dir!r:.80}")
        self._root = None if scratch_dir is None else os.fspath(scratch_dir)
        self._order: list[int] = []  # frame keys in stack order
        self._memory: OrderedDict[int, np.ndarray] = OrderedDict()  # least recent first
        self._memory_bytes = 0
        self._slots: dict[int, int] = {}  # key -> slot of its copy on disk
        self._free: list[int] = []
        self._nslots = 0  # slots the spill file has
        # maps of the spill file handed to pickles: while one lives, no slot is rewritten
        self._exports: list[weakref.ref[np.ndarray]] = []
        self._keys = itertools.count()
        self._uid = uuid.uuid4().hex
        self._version = 0
        self._lock = threading.RLock()
        self._home: str | None = None
        self._disk: str | None = None  # the spill file, once there is one
        self._finalizer: weakref.finalize | None = None
        self._closed = False

    # -- the series interface --------------------------------------------------------

    def __len__(self) -> int:
        return len(self._order)

    @property
    def shape(self) -> tuple[int, ...]:
        if self._shape is None:
            raise EmptySeriesError(
                "an empty ImageStack has no frame shape yet; append a frame first"
            )
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        if self._dtype is None:
            raise EmptySeriesError(
                "an empty ImageStack without dtype= has no dtype yet; append a frame"
            )
        return self._dtype

    @property
    def metadata(self) -> dict[str, Any]:
        return self._meta

    def read(self, frames: FrameSelection, region: Region) -> np.ndarray:
        self._check_open()
        index = range(frames.start, frames.stop) if isinstance(frames, slice) else frames
        with self._lock:
            keys = [self._order[int(j)] for j in index]
        full = region == self.spec.full_region
        cut = region_index(region)
        out = np.empty((len(keys), *(hi - lo for lo, hi in region)), self.dtype)
        for i, key in enumerate(keys):
            out[i] = self._frame(key)[cut] if full or key in self._memory else self._region(key, cut)
        return out

    def _dask_token(self) -> str:
        return f"imagestack-{self._uid}-{self._version}"

    def description(self) -> dict[str, Any]:
        return {"format": "image-stack", "frames": len(self)}

    def _in_memory(self) -> bool:
        return len(self._memory) == len(self._order)

    # -- list-like mutation -----------------------------------------------------------

    def append(self, frame: Any) -> None:
        """Add ``frame`` at the end."""
        self.insert(len(self), frame)

    def extend(self, frames: Iterable[Any]) -> None:
        """Append each of ``frames`` (any iterable of frames, a series or an array of frames)."""
        for frame in frames:
            self.append(frame)

    def insert(self, index: int, frame: Any) -> None:
        """Insert ``frame`` before ``index`` (as ``list.insert``)."""
        with self._lock:
            arr = self._take(frame)
            self._shrink(room=arr.nbytes)  # a full spill disk raises here, the stack as it was
            key = next(self._keys)
            self._order.insert(index, key)
            self._keep(key, arr)
            self._version += 1

    def __setitem__(self, index: int, frame: Any) -> None:
        """``st[i] = frame``: replace frame ``i``."""
        with self._lock:
            arr = self._take(frame)
            j = self._frame_index(index)
            self._shrink(room=arr.nbytes)  # a full spill disk raises here, the stack as it was
            self._forget(self._order[j])
            key = next(self._keys)
            self._order[j] = key
            self._keep(key, arr)
            self._version += 1

    def __delitem__(self, index: int | slice) -> None:
        """``del st[i]`` or ``del st[a:b]``."""
        with self._lock:
            self._check_open()
            if isinstance(index, slice):
                doomed = self._order[index]
                del self._order[index]
            else:
                j = self._frame_index(index)
                doomed = [self._order.pop(j)]
            for key in doomed:
                self._forget(key)
            self._version += 1

    # -- memory and disk --------------------------------------------------------------

    @property
    def budget_bytes(self) -> int:
        """Bytes of frames the stack keeps in memory at most."""
        return self._budget

    @property
    def memory_bytes(self) -> int:
        """Bytes of frames held in memory now."""
        return self._memory_bytes

    @property
    def nspilled(self) -> int:
        """Frames held only on disk now."""
        return len(self._order) - len(self._memory)

    @property
    def scratch_path(self) -> str | None:
        """The private directory of the spill store; None before the first spill."""
        return self._home

    def close(self) -> None:
        """Drop every frame and remove the scratch store; the stack is unusable afterwards."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._order.clear()
            self._memory.clear()
            self._slots.clear()
            self._memory_bytes, self._disk, self._closed = 0, None, True
            self._version += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        with self._lock:
            frames = self._exported_frames()
        return (_rebuild, (frames, self._dtype, self._budget, self._root, self._meta))

    def _exported_frames(self) -> list[np.ndarray]:
        """Every frame as it is: in memory, or a read-only map of its slot of the spill file.

        No frame is copied or read back: pickle protocol 5 hands each one over as a
        buffer (out of band to dask.distributed), so the stack's pickle is the size
        of its frames and costs no second copy of them, spilled ones included.
        """
        if self._disk is None or len(self._memory) == len(self._order):
            return [self._memory[key] for key in self._order]
        slots = os.path.getsize(self._disk) // (int(np.prod(self.shape)) * self.dtype.itemsize)
        spilled = np.memmap(self._disk, self.dtype, "r", shape=(slots, *self.shape))
        self._exports.append(weakref.ref(spilled))
        return [self._memory[key] if key in self._memory else np.asarray(spilled[self._slots[key]])
                for key in self._order]

    def __repr__(self) -> str:
        if self._shape is None:
            return f"<ImageStack: empty, dtype {self._dtype}>"
        return (f"<ImageStack: {counted(len(self), 'frame')} of {self._shape} {self._dtype}, "
                f"{self.nspilled} on disk>")

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedSeriesError("this ImageStack is closed; its frames are gone")

    def _take(self, frame: Any) -> np.ndarray:
        """``frame`` as a read-only copy in the stack's dtype, its shape checked."""
        self._check_open()
        arr = np.asarray(frame)
        if arr.ndim < 2:
            raise FrameShapeError(
                f"a frame needs 2 or more dimensions (Y, X), got shape {arr.shape}"
            )
        if self._shape is not None and arr.shape != self._shape:
            raise FrameShapeError(
                f"frame of shape {arr.shape} does not fit a stack of frames of shape "
                f"{self._shape}; crop or pad it first"
            )
        dtype = self._dtype or arr.dtype
        arr = convert(arr, dtype)
        arr.setflags(write=False)
        self._shape, self._dtype = arr.shape, dtype
        return arr

    def _keep(self, key: int, arr: np.ndarray) -> None:
        self._shrink(room=arr.nbytes)  # make room first: never over budget, not even briefly
        self._memory[key] = arr
        self._memory_bytes += arr.nbytes
        self._shrink()

    def _shrink(self, room: int = 0) -> None:
        while self._memory_bytes + room > self._budget and self._memory:
            key, arr = next(iter(self._memory.items()))
            if key not in self._slots:  # a frame read back is still on disk: nothing to write
                self._spill(key, arr)  # a full disk raises here, the frame still in memory
            del self._memory[key]
            self._memory_bytes -= arr.nbytes

    def _spill(self, key: int, arr: np.ndarray) -> None:
        """Write ``arr`` to a slot of the spill file; only a whole write takes the slot."""
        try:
            path = self._store()
            self._exports = [ref for ref in self._exports if ref() is not None]
            reuse = bool(self._free) and not self._exports  # else a pickle may read freed slots
            slot = self._free[-1] if reuse else self._nslots
            with open(path, "r+b") as f:
                f.seek(slot * arr.nbytes)
                f.write(np.ascontiguousarray(arr).data)
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise DiskFullError(err.errno, f"this ImageStack spills frames to "
                                f"{self._disk or self._root or 'the scratch directory'!r}, "
                                "and that disk is full; every frame is still held (the one "
                                "being added was not); free space there, or give the stack a "
                                "larger max_memory_mb or another scratch_dir") from None
        if reuse:
            self._free.pop()
        else:
            self._nslots += 1
        self._slots[key] = slot

    def _forget(self, key: int) -> None:
        arr = self._memory.pop(key, None)
        if arr is not None:
            self._memory_bytes -= arr.nbytes
        slot = self._slots.pop(key, None)
        if slot is not None:
            self._free.append(slot)

    def _store(self) -> str:
        if self._disk is None:
            self._home = make_scratch("lazyseries-stack-", self._root)
            self._finalizer = weakref.finalize(self, remove_scratch, self._home)
            self._disk = os.path.join(self._home, "frames.bin")
            open(self._disk, "wb").close()
        return self._disk

    def _load(self, slot: int) -> np.ndarray:
        arr = np.empty(self.shape, self.dtype)
        assert self._disk is not None  # a slot exists only once something was spilled
        with open(self._disk, "rb", buffering=0) as f:
            f.seek(slot * arr.nbytes)
            f.readinto(arr.data.cast("B"))
        return arr

    def _frame(self, key: int) -> np.ndarray:
        """A whole frame; a spilled one is read back and kept in memory."""
        with self._lock:
            arr = self._memory.get(key)
            if arr is not None:
                self._memory.move_to_end(key)
                return arr
            slot = self._slots[key]
            try:
                self._shrink(room=int(np.prod(self.shape)) * self.dtype.itemsize)  # first
                keep = True
            except DiskFullError:  # no room to spill another: read it, keep nothing more
                keep = False
        arr = self._load(slot)
        arr.setflags(write=False)
        with self._lock:
            if keep and self._slots.get(key) == slot and key not in self._memory:
                self._keep(key, arr)
        return arr

    def _region(self, key: int, cut: tuple[slice, ...]) -> np.ndarray:
        """Part of a spilled frame, read from disk without bringing the frame back."""
        with self._lock:
            slot = self._slots[key]
        return self._load(slot)[cut].copy()


def _rebuild(frames: np.ndarray | None, dtype: np.dtype | None, budget: int, root: str | None,
             meta: dict[str, Any]) -> ImageStack:
    stack = ImageStack(dtype=dtype, max_memory_mb=budget / 2**20, scratch_dir=root, metadata=meta)
    if frames is not None:
        stack.extend(frames)
    return stack
