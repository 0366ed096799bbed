"""Hostile headers and indexes of the container formats: frame caches, HDF5, NeXus, Eiger, GE.

Each variant is a valid file of :mod:`tests.pipeline.formats.test_hostile` with one field
forged as an enemy would (sizes of 2**62, 1-d arrays, indexes out of bounds or negative,
links to themselves).  The rule is that suite's: a project error naming the file, quickly,
when the file is opened or its first and last frames read; never a bare built-in error, a
huge allocation or wrong pixels.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.pipeline.formats.test_hostile import BUILDERS, Case, _patch, attempt

h5py = pytest.importorskip("h5py")

pytestmark = pytest.mark.slow


def _npz_entries(case: Case, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    with np.load(case.path, allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    change(entries)
    with open(case.path, "wb") as fh:
        np.savez_compressed(fh, **entries)


def _fch5(case: Case, change: Callable[[h5py.File], None]) -> None:
    with h5py.File(case.path, "r+") as f:
        change(f)


def _replace(group, name: str, value) -> None:
    del group[name]
    group[name] = value


def _fch5_field(name: str, value) -> Callable[[Case], None]:
    return lambda case: _fch5(case, lambda f: _replace(f, name, value))


def _fch5_array(name: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Case], None]:
    return lambda case: _fch5(case, lambda f: _replace(f, name, change(f[name][()])))


def _bump(k: int, by: int) -> Callable[[np.ndarray], np.ndarray]:
    def change(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.int64)  # an unsigned index cannot go negative: a wider one can
        a.reshape(-1)[k] += by
        return a
    return change


def _corrupt_member(case: Case) -> None:
    """A compressed member whose deflate stream is damaged (zlib.error on reading it)."""
    data = bytearray(case.path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("2_data.npy")  # the last frame's, which the check reads
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(start + 2, start + min(info.compress_size, 24)):
        data[k] ^= 0x5A
    case.path.write_bytes(bytes(data))


def _hdf5_dataset(case: Case, make: Callable[[h5py.Group], None]) -> None:
    with h5py.File(case.path, "r+") as f:
        del f["imageseries/images"]
        make(f["imageseries"])


def _nexus_link(case: Case, link) -> None:
    with h5py.File(case.path, "r+") as f:
        _replace(f["entry/data"], "data_000002", link)


def _short_vds(case: Case) -> None:
    """A virtual dataset that declares more frames than its source holds."""
    path = case.path
    with h5py.File(path, "w") as f:
        f.create_dataset("src", data=case.expected[:1])
        layout = h5py.VirtualLayout(shape=case.expected.shape, dtype=case.expected.dtype)
        layout[:] = h5py.VirtualSource(path.name, "src", shape=case.expected.shape)
        f.create_virtual_dataset("imageseries/images", layout)


def _eiger_frame(case: Case, j: int, name: str, value) -> None:
    with h5py.File(case.path, "r+") as f:
        _replace(f[f"data/{j}"], name, value)


def _csrnpz_frame(frame: np.ndarray, change: Callable[[dict[str, np.ndarray]], None]) -> bytes:
    from scipy.sparse import csr_matrix, save_npz

    buf = io.BytesIO()
    save_npz(buf, csr_matrix(frame))
    with np.load(io.BytesIO(buf.getvalue()), allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    change(entries)
    out = io.BytesIO()
    out.write(frame.nbytes.to_bytes(8, "big"))
    np.savez(out, **entries)
    return out.getvalue()


def _csrnpz_case(tmp: Path, change: Callable[[dict[str, np.ndarray]], None]) -> Case:
    from tests.pipeline.formats.test_eiger import write_v1

    case = BUILDERS["eiger-v1"](tmp)
    write_v1(case.path, case.expected, encoding="csrnpz")
    with h5py.File(case.path, "r+") as f:
        last = len(case.expected) - 1
        _replace(f[f"data/{last}"], "data", np.void(_csrnpz_frame(case.expected[last], change)))
    return case


def _indices(change: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict], None]:
    return lambda e: e.update(indices=change(e["indices"].copy()))


def _negative_column(idx: np.ndarray) -> np.ndarray:
    k = int(np.flatnonzero(idx != idx.max())[0])  # where -1 would wrap to another column
    idx[k] = -1
    return idx


def _wide_column(idx: np.ndarray) -> np.ndarray:
    idx[0] = 10**6
    return idx


HOSTILE: dict[str, Callable[[Path], Case]] = {}


def hostile(name: str, base: str) -> Callable[[Callable[[Case], None]], None]:
    def register(change: Callable[[Case], None]) -> None:
        def build(tmp: Path) -> Case:
            case = BUILDERS[base](tmp)
            change(case)
            return case
        HOSTILE[name] = build
    return register


hostile("npz-2**62-frames", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update(nframes=np.asarray(2**62))))
hostile("npz-negative-frames", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update(nframes=np.asarray(-3))))
hostile("npz-huge-frames", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update(shape=np.asarray([100000, 100000]))))
hostile("npz-1d-shape", "npz")(lambda c: _npz_entries(c, lambda e: e.update(shape=np.asarray([5]))))
hostile("npz-zero-shape", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update(shape=np.asarray([0, 12]))))
hostile("npz-negative-shape", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update(shape=np.asarray([-16, 12]))))
hostile("npz-dtype-void", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update(dtype=np.asarray(b"V1000000000"))))
hostile("npz-dtype-object", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update(dtype=np.asarray(b"O"))))
hostile("npz-dtype-garbage", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update(dtype=np.asarray(b"\xff\xfe"))))
hostile("npz-row-out-of-frame", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update({"2_row": e["2_row"] + 10**4})))
hostile("npz-negative-column", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update({"2_col": e["2_col"] - 10**3})))
hostile("npz-index-lengths-differ", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update({"2_data": e["2_data"][:-1]})))
hostile("npz-2d-index", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update({"2_row": e["2_row"][None, :]})))
hostile("npz-float-index", "npz")(lambda c: _npz_entries(
    c, lambda e: e.update({"2_row": e["2_row"] + 0.5})))
hostile("npz-corrupt-member", "npz")(_corrupt_member)

hostile("fch5-2**62-frames", "fch5")(_fch5_field("nframes", 2**62))
hostile("fch5-huge-frames", "fch5")(_fch5_field("shape", [100000, 100000]))
hostile("fch5-1d-shape", "fch5")(_fch5_field("shape", [5]))
hostile("fch5-dtype-void", "fch5")(_fch5_field("dtype", "V1000000000"))
hostile("fch5-dtype-garbage", "fch5")(_fch5_field("dtype", np.void(b"\xff\xfe")))
hostile("fch5-row-out-of-frame", "fch5")(_fch5_array("indices", _bump(-2, 10**4)))
hostile("fch5-negative-column", "fch5")(_fch5_array("indices", _bump(-1, -10**3)))
hostile("fch5-frame-ids-past-the-data", "fch5")(_fch5_array("frame_ids", _bump(-1, 10**6)))
hostile("fch5-frame-ids-decreasing", "fch5")(_fch5_array("frame_ids", lambda a: a[::-1].copy()))
hostile("fch5-frame-ids-negative", "fch5")(_fch5_array("frame_ids", _bump(-2, -10**6)))

hostile("hdf5-1d", "hdf5")(lambda c: _hdf5_dataset(
    c, lambda g: g.create_dataset("images", data=np.arange(12))))
hostile("hdf5-0d", "hdf5")(lambda c: _hdf5_dataset(c, lambda g: g.create_dataset("images",
                                                                                  data=3)))
hostile("hdf5-2**62-frames", "hdf5")(lambda c: _hdf5_dataset(
    c, lambda g: g.create_dataset("images", shape=(2**62, 16, 12), dtype="u2",
                                  chunks=(1, 16, 12))))
hostile("hdf5-huge-frames", "hdf5")(lambda c: _hdf5_dataset(
    c, lambda g: g.create_dataset("images", shape=(2, 10**6, 10**6), dtype="u2",
                                  chunks=(1, 64, 64))))
hostile("hdf5-empty-frames", "hdf5")(lambda c: _hdf5_dataset(
    c, lambda g: g.create_dataset("images", shape=(3, 0, 12), dtype="u2")))
hostile("hdf5-string", "hdf5")(lambda c: _hdf5_dataset(
    c, lambda g: g.create_dataset("images", data=np.array([[b"ab", b"cd"]] * 3))))
hostile("hdf5-compound", "hdf5")(lambda c: _hdf5_dataset(
    c, lambda g: g.create_dataset("images", data=np.zeros((3, 4, 4), "u2,f4"))))
hostile("hdf5-short-vds", "hdf5")(_short_vds)

hostile("nexus-link-to-itself", "nexus")(lambda c: _nexus_link(
    c, h5py.ExternalLink(c.path.name, "/entry/data/data_000002")))
hostile("nexus-soft-link-cycle", "nexus")(lambda c: _nexus_link(
    c, h5py.SoftLink("/entry/data/data_000002")))
hostile("nexus-link-to-a-group", "nexus")(lambda c: _nexus_link(
    c, h5py.SoftLink("/entry")))
hostile("nexus-part-of-other-frames", "nexus")(lambda c: _nexus_part(c))

hostile("ge-zero-rows", "ge")(lambda c: _patch(c.path, 10 + 16, "<H", 0))
hostile("ge-zero-columns", "ge")(lambda c: _patch(c.path, 10 + 18, "<H", 0))

hostile("eiger-v1-frame-shape-differs", "eiger-v1")(
    lambda c: _eiger_frame(c, 2, "shape", [10, 12]))
hostile("eiger-v1-frame-1d", "eiger-v1")(lambda c: _eiger_frame(c, 0, "shape", [120]))
hostile("eiger-v1-unknown-encoding", "eiger-v1-bslz4")(
    lambda c: _eiger_frame(c, 2, "compression_type", "zip-bomb"))
hostile("eiger-v1-short-data", "eiger-v1")(
    lambda c: _eiger_frame(c, 2, "data", np.void(b"\0" * 7)))


def _nexus_part(case: Case) -> None:
    """A part whose frames are of another shape than the others'."""
    part = case.victim
    with h5py.File(part, "r+") as f:
        del f["entry/data/data"]
        f.create_dataset("entry/data/data", data=np.zeros((2, 5, 5), "u4"))


CSR: dict[str, Callable[[dict], None]] = {
    "negative-column": _indices(_negative_column),
    "column-past-the-frame": _indices(_wide_column),
    "indptr-decreasing": lambda e: e.update(indptr=e["indptr"][::-1].copy()),
    "indptr-short": lambda e: e.update(indptr=e["indptr"][:-2]),
    "indptr-past-the-data": lambda e: e.update(indptr=e["indptr"] + 5),
    "huge-shape": lambda e: e.update(shape=np.asarray([10**6, 10**6])),
    "coo-matrix": lambda e: e.update(format=np.asarray(b"coo")),
}


@pytest.mark.parametrize("variant", sorted(HOSTILE))
def test_a_forged_header_or_index(variant, tmp_path):
    attempt(HOSTILE[variant](tmp_path))


@pytest.mark.parametrize("variant", sorted(CSR))
def test_a_forged_csrnpz_frame(variant, tmp_path):
    attempt(_csrnpz_case(tmp_path, CSR[variant]))


def test_the_untouched_csrnpz_case_reads_as_written(tmp_path):
    attempt(_csrnpz_case(tmp_path, lambda e: None), valid=True)
