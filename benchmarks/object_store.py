"""Reads from an S3 server at the object store's limit: requests per frame, and latency hidden.

moto's S3 server runs on 127.0.0.1 in a process of its own, behind two
instances of the tests' forwarding proxy (``tests/_proxy.py``): one that adds
nothing, one that adds 50 ms to every request (an object store in another
region).  The proxies count the requests they forward, so a series' requests
per frame are counted, not inferred.  The same reads then run through both,
interleaved: a whole-series read (``np.asarray``) and a frame-by-frame
iteration, for a store of small frames (shards of 32) and one of large frames
(one frame per object); the ratio of their throughputs says how much of the
latency the reads hide by keeping requests in flight.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks._harness import Context, Report, interleaved, median

NAME = "object_store"
DELAY_MS = 50


def _counted(proxy: Any, do: Any) -> dict[str, int]:
    before = proxy.stats()
    do()
    after = proxy.stats()
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}


def _stores(ctx: Context, server: Any, near: Any) -> dict[str, str]:
    import pipeline

    bucket = server.bucket()
    # large enough that reading them takes longer than a few round trips: what the latency
    # costs is then what the reads fail to hide
    small = ctx.size((64, 128), (2048, 256))
    large = ctx.size((8, 512), (128, 1024))
    out = {}
    for label, (n, side) in {"small frames": small, "large frames": large}.items():
        url = f"s3://{bucket}/{label.split()[0]}.zarr"
        pipeline.write(pipeline.synthetic(n, (side, side), seed=0), url,
                       storage_options=near.options)
        out[label] = url
    return out


def _requests(report: Report, url: str, label: str, near: Any) -> None:
    import pipeline

    opened: list[Any] = []
    opening = _counted(near, lambda: opened.append(pipeline.open(url,
                                                                storage_options=near.options)))
    series = opened[0]
    cold = _counted(near, lambda: series[1])
    warm = _counted(near, lambda: series[2])
    report.add(f"{label}: requests to open", sum(opening.values()), **opening)
    report.add(f"{label}: requests for s[j], cold", sum(cold.values()), **cold)
    report.add(f"{label}: requests for s[j], warm", sum(warm.values()), **warm)
    report.check(f"{label}: requests for a cold s[j]", sum(cold.values()), "<=", 3)
    report.check(f"{label}: requests for a warm s[j]", sum(warm.values()), "<=", 1)


def run(ctx: Context) -> Report:
    import pipeline
    from tests._servers import Proxy, S3Server

    report = Report(NAME, unit="s")
    server = S3Server.start()
    near, far = Proxy.start(server), Proxy.start(server, delay_ms=DELAY_MS)
    try:
        stores = _stores(ctx, server, near)
        for label, url in stores.items():
            _requests(report, url, label, near)
            series = {name: pipeline.open(url, storage_options=proxy.options)
                      for name, proxy in (("near", near), ("far", far))}
            nbytes = series["near"].nbytes
            comps = {f"{label}: whole read, +0 ms": lambda s=series["near"]: np.asarray(s),
                     f"{label}: whole read, +{DELAY_MS} ms": lambda s=series["far"]: np.asarray(s),
                     f"{label}: iteration, +0 ms": lambda s=series["near"]: [f for f in s],
                     f"{label}: iteration, +{DELAY_MS} ms": lambda s=series["far"]: [f for f in s]}
            times = interleaved(comps, ctx.repeats, warmup=1)
            for name, values in times.items():
                report.add(name, median(values), MBps=round(nbytes / median(values) / 1e6, 1))
            for how in ("whole read", "iteration"):
                ratio = median(times[f"{label}: {how}, +0 ms"]) / \
                    median(times[f"{label}: {how}, +{DELAY_MS} ms"])
                report.check(f"{label}: {how} throughput with +{DELAY_MS} ms / without", ratio,
                             ">=", 0.8)
        report.params = {"server": "moto S3 server on 127.0.0.1, through a forwarding proxy",
                         "stores": {k: str(pipeline.open(v, storage_options=near.options))
                                    for k, v in stores.items()},
                         "latency": f"+{DELAY_MS} ms per request (second proxy)",
                         "repeats": ctx.repeats}
    finally:
        near.stop()
        far.stop()
        server.stop()
    return report
