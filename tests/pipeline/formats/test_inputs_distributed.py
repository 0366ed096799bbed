"""pims-style inputs and fsspec URLs on a real cluster: each series travels as its recipe."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import pipeline
from tests.pipeline.formats._data import frames
from tests.pipeline.formats.test_gif_video import video_frames
from tests.pipeline.formats.test_spe import write_spe

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


def test_workers_read_images_spe_video_and_urls(tmp_path):
    data = frames(6, (24, 32))
    (tmp_path / "png").mkdir()
    for j, frame in enumerate(data):
        iio.imwrite(tmp_path / "png" / f"f{j}.png", frame)
    tifffile.imwrite(tmp_path / "s.tif", data)
    write_spe(tmp_path / "s.spe", data)
    series = {
        "directory": pipeline.open(tmp_path / "png"),
        "spe": pipeline.open(tmp_path / "s.spe"),
        "tiff url": pipeline.open((tmp_path / "s.tif").as_uri(),
                                  storage_options={"auto_mkdir": False}),
    }
    expected = {name: data for name in series}
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        pass
    else:
        rgb = np.repeat(np.repeat(data[:, ::8, ::8, None] % 256, 8, 1), 8, 2)
        iio.imwrite(tmp_path / "v.mp4", np.repeat(rgb, 3, -1).astype(np.uint8), fps=5,
                    plugin="FFMPEG")
        series["video"] = pipeline.open(tmp_path / "v.mp4")
        expected["video"] = video_frames(tmp_path / "v.mp4")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=40)
    with cluster, distributed.Client(cluster) as client:
        for name, s in series.items():
            flipped = s.process([("flip", "v")]).to_dask(frames_per_chunk=2)
            got = client.compute(flipped).result()
            np.testing.assert_array_equal(got, expected[name][..., ::-1], err_msg=name)
