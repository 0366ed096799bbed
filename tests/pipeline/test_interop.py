"""A written store in plain zarr and xarray; to_xarray; fsspec URLs; the HTML view."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pipeline

xr = pytest.importorskip("xarray")


@pytest.fixture
def processed():
    raw = pipeline.synthetic(10, (24, 32))
    return raw.process([("dark", raw.metadata["dark"]), ("flip", "v")], frame_list=[1, 2, 5, 7])


def test_to_xarray_is_lazy_with_named_dims_omega_and_attrs(processed):
    arr = processed.to_xarray()
    assert arr.dims == ("frame", "y", "x")
    assert arr.shape == (4, 24, 32) and arr.dtype == processed.dtype
    assert arr.chunks is not None  # still a dask array
    omega = processed.metadata["omega"]
    np.testing.assert_allclose(arr["omega"].values, omega.mean(axis=1))
    assert arr.attrs == {"source": "synthetic detector", "seed": 0}
    reference = np.stack([processed[j] for j in range(len(processed))])
    np.testing.assert_array_equal(arr.values, reference)
    np.testing.assert_array_equal(arr.sel(frame=2).values, processed[2])


def test_to_xarray_names_channel_dims():
    s = pipeline.from_array(np.zeros((3, 2, 5, 6), np.uint8))
    assert s.to_xarray().dims == ("frame", "channel", "y", "x")
    assert "omega" not in s.to_xarray().coords


def test_store_opens_in_plain_zarr_and_xarray(processed, tmp_path):
    import zarr

    pipeline.write(processed, tmp_path / "out.zarr")
    group = zarr.open_group(tmp_path / "out.zarr", mode="r")
    images = group["0"]
    assert images.metadata.dimension_names == ("frame", "y", "x")
    np.testing.assert_array_equal(images[2], processed[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no consolidated metadata: expected
        ds = xr.open_zarr(tmp_path / "out.zarr")
    assert ds["0"].dims == ("frame", "y", "x")
    np.testing.assert_array_equal(ds["0"][3].values, processed[3])


def test_write_to_a_file_url_and_reopen(processed, tmp_path):
    url = (tmp_path / "url.zarr").as_uri()
    stored = pipeline.write(processed, url)
    reopened = pipeline.open(url)
    assert np.asarray(reopened).tobytes() == np.asarray(processed).tobytes()
    assert stored.provenance["frame_list"] == [1, 2, 5, 7]
    with pytest.raises(FileExistsError):
        pipeline.write(processed, url)
    pipeline.write(processed[:2], url, overwrite=True)
    assert len(pipeline.open(url)) == 2


def test_html_repr_summarises_without_computing(processed):
    from pipeline import display, graph
    from pipeline.series import plan_of

    html = processed._repr_html_()
    work = plan_of(processed)
    rows = dict(display.summary(processed, work, graph.frames_per_chunk(processed, work.source)))
    assert rows["frames"] == "4 (selected from 10)"
    assert rows["frame shape"] == "24 × 32" and rows["dtype"] == str(processed.dtype)
    assert "Op(&#x27;flip&#x27;, &#x27;v&#x27;)" in html and "function" in rows["source"]
    assert "<table>" in pipeline.synthetic(2, (4, 4))._repr_html_()
