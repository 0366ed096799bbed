"""A hexrd imageseries script runs unchanged but for its imports."""

from __future__ import annotations

import numpy as np

import pipeline as imageseries
from pipeline.omega import OmegaImageSeries, OmegaWedges
from pipeline.process import ProcessedImageSeries


def test_a_hexrd_script_with_changed_imports(tmp_path):
    # what a hexrd user writes, names and call forms as in hexrd.imageseries
    data = np.random.default_rng(0).integers(0, 3000, (6, 16, 12), dtype=np.uint16)
    wedges = OmegaWedges(6)
    wedges.addwedge(0.0, 6.0, 6)
    ims = imageseries.open(None, "array", data=data, meta={"omega": wedges.omegas})
    dark = imageseries.stats.median(ims, nframes=4)
    oplist = [("dark", dark), ("flip", "h"), ("rectangle", [[2, 14], [1, 11]])]
    pims = imageseries.process.ProcessedImageSeries(ims, oplist, frame_list=[0, 2, 4])
    assert isinstance(pims, ProcessedImageSeries)
    assert pims.metadata["omega"].shape == (3, 2)
    imageseries.write(pims, str(tmp_path / "out.h5"), "hdf5", path="/imageseries")
    back = imageseries.open(str(tmp_path / "out.h5"), "hdf5", path="/imageseries")
    ref = np.stack([np.maximum(f.astype(np.float32) - dark, 0)[::-1][2:14, 1:11]
                    for f in data[[0, 2, 4]]])
    np.testing.assert_array_equal(np.asarray(back), ref)
    oms = OmegaImageSeries(back)
    # frames 0, 2, 4 keep their omegas: three wedges with gaps between them
    assert oms.nwedges == 3 and tuple(oms.omega_to_frame(2.5)) == (1, 1)
