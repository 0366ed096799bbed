"""pipeline.omega: wedges against hand-computed ones, angle look-ups, the series interface."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import pipeline
from pipeline.errors import OmegaSeriesError
from pipeline.omega import OmegaImageSeries, OmegaWedges
from pipeline.testing import SeriesConformance


def _series(omega, shape=(6, 7)):
    frames = np.arange(len(omega) * shape[0] * shape[1], dtype=np.uint16).reshape(len(omega), *shape)
    return pipeline.from_array(frames, metadata={"omega": np.asarray(omega, dtype=float)})


def _wedged(*wedges):
    """Omega for wedges given as (ostart, ostop, nsteps)."""
    ow = OmegaWedges(sum(w[2] for w in wedges))
    for w in wedges:
        ow.addwedge(*w)
    return ow.omegas


# -- OmegaWedges ----------------------------------------------------------------------------


def test_wedges_build_omegas():
    ow = OmegaWedges(5)
    ow.addwedge(0.0, 3.0, 3)
    ow.addwedge(10.0, 12.0, 2)
    assert ow.nwedges == 2 and ow.wframes == 5
    np.testing.assert_allclose(ow.omegas, [[0, 1], [1, 2], [2, 3], [10, 11], [11, 12]])
    ow.addwedge(-4.0, 0.0, 2, loc=0)
    assert ow.wframes == 7 and ow.wedges[0] == {"ostart": -4.0, "ostop": 0.0, "nsteps": 2}
    ow.delwedge(0)
    assert [w["ostart"] for w in ow.wedges] == [0.0, 10.0]
    ow.wedges[0]["nsteps"] = 99  # a copy: the wedges stay as they were
    assert ow.wframes == 5


def test_wedges_not_covering_the_frames(tmp_path):
    ow = OmegaWedges(4)
    ow.addwedge(0.0, 3.0, 3)
    with pytest.raises(OmegaSeriesError, match="cover 3 frames, which does not match nframes 4"):
        _ = ow.omegas
    with pytest.raises(OmegaSeriesError, match="nsteps=0"):
        ow.addwedge(0.0, 1.0, 0)
    ow.addwedge(3.0, 4.0, 1)
    ow.save_omegas(tmp_path / "om.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "om.npy"), ow.omegas)


# -- wedges found in a series -------------------------------------------------------------


def test_wedges_split_where_step_changes_or_ranges_jump():
    # 0..30 step 10, 30..40 step 5 (step change), 100..104 step 2 (jump)
    omega = _wedged((0.0, 30.0, 3), (30.0, 40.0, 2), (100.0, 104.0, 2))
    oms = OmegaImageSeries(_series(omega))
    assert oms.nwedges == 3
    assert oms.wedge(0) == {"ostart": 0.0, "ostop": 30.0, "nsteps": 3, "delta": 10.0}
    assert oms.wedge(1) == {"ostart": 30.0, "ostop": 40.0, "nsteps": 2, "delta": 5.0}
    assert oms.wedge(2) == {"ostart": 100.0, "ostop": 104.0, "nsteps": 2, "delta": 2.0}
    oms.wedge(0)["delta"] = -1  # no stored state changes
    assert oms.wedge(0)["delta"] == 10.0
    assert oms.omegawedges.wedges == [{k: v for k, v in oms.wedge(i).items() if k != "delta"}
                                      for i in range(3)]
    np.testing.assert_array_equal(oms.omega, omega)
    np.testing.assert_allclose(oms.omegawedges.omegas, omega)


def test_omega_to_frame():
    oms = OmegaImageSeries(_series(_wedged((0.0, 30.0, 3), (30.0, 40.0, 2), (100.0, 104.0, 2))))
    assert oms.omega_to_frame(0.0) == (0, 0)
    assert oms.omega_to_frame(29.999) == (2, 0)
    assert oms.omega_to_frame(30.0) == (3, 1)
    assert oms.omega_to_frame(39.0) == (4, 1)
    assert oms.omega_to_frame(103.0) == (6, 2)
    assert oms.omega_to_frame(360.0 + 12.0) == (1, 0)  # the 360 degree wrap
    assert oms.omega_to_frame(-340.0) == (2, 0)
    assert oms.omega_to_frame(50.0) == (-1, -1)  # between discontinuous wedges
    assert oms.omega_to_frame(104.0) == (-1, -1)  # stop is exclusive


def test_omegarange_within_a_wedge_and_across_the_wrap():
    # a scan from 180 to 360 with 20 degree steps, then 0 to 180 with 30 degree steps
    omega = _wedged((180.0, 360.0, 9), (0.0, 180.0, 6))
    oms = OmegaImageSeries(_series(omega))
    assert oms.nwedges == 2
    assert oms.omegarange_to_frames(185.0, 245.0) == [0, 1, 2, 3]
    assert oms.omegarange_to_frames(200.0, 200.0) == [1]
    # 345 is frame 8 (340..360) of wedge 0; 45 is frame 10 (30..60) of wedge 1
    assert oms.omegarange_to_frames(345.0, 45.0) == [8, 9, 10]
    assert oms.omegarange_to_frames(-15.0, 405.0) == [8, 9, 10]
    # from the 0..180 wedge back to 180..360: its end meets that start as well
    assert oms.omegarange_to_frames(170.0, 190.0) == [14, 0]
    # backwards inside a wedge that is not a full turn: nothing
    assert oms.omegarange_to_frames(245.0, 185.0) == ()  # hexrd's empty answer


def test_omegarange_full_turn_and_gaps():
    full = OmegaImageSeries(_series(_wedged((-180.0, 180.0, 36))))
    assert full.omegarange_to_frames(175.0, 185.0) == [35, 0]
    assert full.omegarange_to_frames(170.0, 190.0) == [35, 0, 1]
    gaps = OmegaImageSeries(_series(_wedged((0.0, 50.0, 5), (100.0, 150.0, 5))))
    assert gaps.omegarange_to_frames(10.0, 120.0) == ()  # wedges do not meet
    assert gaps.omegarange_to_frames(60.0, 120.0) == ()  # 60 is in no wedge


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({}, "no omega metadata"),
        ({"omega": np.zeros((4, 2))}, r"shape \(4, 2\); expected \(5, 2\)"),
        ({"omega": np.zeros(5)}, r"shape \(5,\)"),
        ({"omega": [[0, 1], [1, 2], [2, 2], [3, 4], [4, 5]]}, "frame 2 runs from 2.0 to 2.0"),
        ({"omega": [[0, 1], [1, 2], [3, 2], [3, 4], [4, 5]]}, "frame 2 runs from 3.0 to 2.0"),
        ({"omega": [[0, 1], [1, np.nan], [2, 3], [3, 4], [4, 5]]}, "NaN"),
        ({"omega": [["a", "b"]] * 5}, "not numeric"),
    ],
)
def test_bad_omega_metadata(meta, match):
    s = pipeline.from_array(np.zeros((5, 3, 3)), metadata=meta)
    with pytest.raises(OmegaSeriesError, match=match):
        OmegaImageSeries(s)
    assert issubclass(OmegaSeriesError, ValueError)


def test_wraps_only_series():
    with pytest.raises(TypeError, match="int"):
        OmegaImageSeries(42)
    with pytest.raises(TypeError, match="str"):
        OmegaImageSeries("scan.h5")
    # an array of frames is a series, here one without omegas
    with pytest.raises(OmegaSeriesError, match="no omega metadata"):
        OmegaImageSeries(np.zeros((2, 3, 3)))


# -- an omega series is a series -----------------------------------------------------------


def test_processes_slices_and_rewraps():
    omega = _wedged((0.0, 30.0, 3), (30.0, 40.0, 2))
    raw = _series(omega)
    oms = OmegaImageSeries(raw)
    ps = oms.process([("flip", "h")], frame_list=[1, 2, 3])
    np.testing.assert_array_equal(ps.metadata["omega"], omega[1:4])
    np.testing.assert_array_equal(ps[0], np.asarray(raw)[1, ::-1])
    again = OmegaImageSeries(ps)
    assert again.nwedges == 2 and again.omega_to_frame(32.0) == (2, 1)
    np.testing.assert_array_equal(OmegaImageSeries(oms[3:]).omega, omega[3:])
    np.testing.assert_array_equal(again.to_dask().compute(), np.asarray(raw)[1:4, ::-1])


def test_zarr_round_trip_keeps_omegas(tmp_path):
    omega = _wedged((0.0, 30.0, 3), (100.0, 110.0, 2))
    oms = OmegaImageSeries(_series(omega).process([("flip", "v")]))
    pipeline.write(oms, tmp_path / "om.zarr")
    back = OmegaImageSeries(pipeline.open(tmp_path / "om.zarr"))
    np.testing.assert_array_equal(back.omega, omega)
    assert back.nwedges == 2
    np.testing.assert_array_equal(np.asarray(back), np.asarray(oms))
    assert pickle.loads(pickle.dumps(back)).omega_to_frame(105.0) == (4, 1)


def test_stats_over_an_omega_series():
    oms = OmegaImageSeries(_series(_wedged((0.0, 50.0, 5))))
    np.testing.assert_array_equal(pipeline.stats.max(oms), np.asarray(oms).max(axis=0))


class TestOmegaConformance(SeriesConformance):
    def make(self, tmp_path):
        rng = np.random.default_rng(5)
        frames = rng.integers(0, 4000, size=(9, 12, 14), dtype=np.uint16)
        omega = _wedged((0.0, 10.0, 4), (20.0, 30.0, 5))
        pipeline.write(pipeline.from_array(frames, metadata={"omega": omega}),
                       tmp_path / "src.zarr")
        oms = OmegaImageSeries(pipeline.open(tmp_path / "src.zarr"))
        return oms, frames, {"omega": omega}
