"""Writes for the fault-injection tests, and a zygote that forks them ready-imported.

Importing numpy, dask, zarr and h5py takes seconds on a busy machine; the
zygote pays it once and forks one child per write, so a kill can land at
any instant of the write itself, its first milliseconds included.  Children
are reaped automatically (``SIGCHLD`` ignored), so a killed one leaves no
zombie that would look alive to the claim check.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

import numpy as np

N, SHAPE = 24, (32, 48)
META = {"NX_class": b"NXimageseries", "omega": np.linspace(0, 12, 2 * N).reshape(N, 2),
        "large": np.arange(20_000, dtype=np.float64), "note": None}
OPTIONS = {"zarr": {"chunks": (1, *SHAPE)}, "hdf5": {}, "tiff": {}, "frame-cache": {}}


def frames(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 1000, size=(N, *SHAPE), dtype=np.uint16)
    out[out < 600] = 0  # sparse enough for frame caches
    return out


def make_series(seed: int, sleep: float = 0.0, pause_frame: int | None = None) -> object:
    import pipeline

    data = frames(seed)

    def frame(j: int) -> np.ndarray:
        if pause_frame is not None and j == pause_frame:
            from pipeline.persist.faults import phase

            phase("chunks")
        if sleep:
            time.sleep(sleep)
        return data[j]

    return pipeline.from_function(frame, N, shape=SHAPE, dtype=np.uint16, metadata=META)


def run(job: dict) -> str:
    """Do one write; return 'ok' or the error's class name."""
    import pipeline
    from pipeline.formats import _filewrite

    _filewrite.BLOCK_BYTES = 4 * int(np.prod(SHAPE)) * 2  # several blocks per file
    os.environ.update(job.get("env", {}))
    series = make_series(job["seed"], job.get("sleep", 0.02), job.get("pause_frame"))
    try:
        pipeline.write(series, job["target"], format=job["format"],
                       overwrite=job.get("overwrite", False), **OPTIONS[job["format"]],
                       **job.get("options", {}))
    except Exception as err:  # noqa: BLE001  (reported to the test)
        return f"{type(err).__name__}: {err}"
    return "ok"


def serve() -> None:
    import dask.array  # noqa: F401
    import h5py  # noqa: F401
    import s3fs  # noqa: F401
    import tifffile  # noqa: F401
    import zarr  # noqa: F401

    import pipeline.persist.files
    import pipeline.persist.stores  # noqa: F401
    from pipeline import axes, graph  # noqa: F401
    from pipeline.formats import framecache, hdf5, tiff, zarr  # noqa: F401

    try:  # dask imports it on the first compute when installed; no threads start on import
        import distributed  # noqa: F401
    except ImportError:
        pass

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print("ready", flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                result = run(job)
            except BaseException:  # noqa: BLE001
                result = traceback.format_exc()
            with open(job["result"], "w") as fh:
                fh.write(result)
            os._exit(0)
        print(pid, flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))))
    serve()
