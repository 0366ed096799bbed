"""The conformance class a storage backend passes: :class:`StoreConformance`.

A backend (a :class:`pipeline.storage.Backend`) subclasses it in its tests
and says where a scratch place of it is::

    from pipeline.testing import StoreConformance

    class TestMyStore(StoreConformance):
        def root(self, tmp_path):
            return pipeline.storage.locate("mystore://bucket/" + tmp_path.name, {...})

Every law then runs against that backend: whole and ranged reads, atomic
writes, exclusive creates and conditional replaces (one winner among racing
threads), listing, removal, pickling as a recipe, spellings that name one
place, and the Zarr store a series written through it reads back as.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any

import numpy as np

import pipeline
from ops import require
from pipeline.storage import Location

pytest = require("pytest", "testing", "the conformance classes of pipeline.testing")


class StoreConformance:
    """Shared tests; ``root`` returns an empty location of the backend under test."""

    conditional = True
    """Whether ``create`` and ``replace`` are atomic across threads of this process."""

    def root(self, tmp_path: Any) -> Location:
        raise NotImplementedError

    @pytest.fixture
    def place(self, tmp_path: Any) -> Location:
        return self.root(tmp_path)

    def test_a_missing_object_is_file_not_found(self, place: Location) -> None:
        missing = place.child("nothing-here")
        assert missing.stat() is None and not missing.exists()
        with pytest.raises(FileNotFoundError):
            missing.read()

    def test_whole_and_ranged_reads(self, place: Location) -> None:
        obj = place.child("a", "b.bin")
        data = bytes(range(256)) * 4
        obj.write(data)
        assert obj.read() == data
        assert obj.read(10, 20) == data[10:20]
        assert obj.read(-16) == data[-16:]
        assert obj.read(1000, 2000) == data[1000:]
        assert obj.read_ranges([(0, 4), (500, 510)]) == [data[:4], data[500:510]]
        found = obj.stat()
        assert found is not None and found.size == len(data) and not found.is_dir
        got, version = obj.read_versioned(3, 7)
        assert got == data[3:7] and version == found.version

    def test_a_read_larger_than_its_limit_is_refused(self, place: Location) -> None:
        obj = place.child("big")
        obj.write(b"x" * 5000)
        with pytest.raises(OSError, match="4096"):
            obj.read(limit=4096)

    def test_a_write_replaces_whole_and_changes_the_version(self, place: Location) -> None:
        obj = place.child("v")
        obj.write(b"first")
        before = obj.stat()
        obj.write(b"second, longer")
        after = obj.stat()
        assert obj.read() == b"second, longer"
        assert before is not None and after is not None and before.version != after.version

    def test_create_is_exclusive(self, place: Location) -> None:
        obj = place.child("claim")
        assert obj.create(b"mine")
        assert not obj.create(b"theirs")
        assert obj.read() == b"mine"

    def test_replace_is_conditional_on_the_version(self, place: Location) -> None:
        obj = place.child("record")
        obj.write(b"one")
        found = obj.stat()
        assert found is not None
        assert obj.replace(b"two", found.version)
        assert not obj.replace(b"three", found.version)  # the version moved on
        assert obj.read() == b"two"
        assert not place.child("absent").replace(b"x", found.version)

    def test_one_of_racing_creates_and_replaces_wins(self, place: Location) -> None:
        if not self.conditional:
            pytest.skip("this backend's conditional writes are not atomic")
        obj = place.child("race")
        wins: list[int] = []
        barrier = threading.Barrier(8)

        def create(i: int) -> None:
            barrier.wait()
            if obj.create(str(i).encode()):
                wins.append(i)

        _run(create, 8)
        assert len(wins) == 1 and obj.read() == str(wins[0]).encode()
        version = obj.stat().version  # type: ignore[union-attr]
        wins.clear()

        def replace(i: int) -> None:
            barrier.wait()
            if obj.replace(f"r{i}".encode(), version):
                wins.append(i)

        _run(replace, 8)
        assert len(wins) == 1 and obj.read() == f"r{wins[0]}".encode()

    def test_listing_and_removal(self, place: Location) -> None:
        for name in ("x", "y", "sub/z"):
            place.child(name).write(b"1")
        assert {"x", "y", "sub"} <= set(place.list())
        place.child("x").remove()
        place.child("x").remove()  # nothing there: nothing to do
        assert "x" not in place.list()
        place.child("sub").remove_tree()
        assert not place.child("sub", "z").exists()
        assert place.child("nothing").list() == []

    def test_a_location_pickles_as_a_recipe(self, place: Location) -> None:
        obj = place.child("p")
        obj.write(b"payload")
        again = pickle.loads(pickle.dumps(obj))
        assert again == obj and again.read() == b"payload"
        assert len(pickle.dumps(obj)) < 2000

    def test_keys_cannot_climb_out(self, place: Location) -> None:
        for key in ("../x", "a/../../x", "./x"):
            with pytest.raises(ValueError, match="'..'|'.'"):
                place.child(key)

    def test_a_series_round_trips_through_a_store_here(self, place: Location) -> None:
        frames = np.arange(5 * 6 * 7, dtype=np.uint16).reshape(5, 6, 7)
        target = place.child("s.zarr")
        back = pipeline.write(pipeline.from_array(frames, {"gain": 2.5}), target)
        np.testing.assert_array_equal(np.asarray(back), frames)
        np.testing.assert_array_equal(back[3], frames[3])
        assert back.metadata["gain"] == 2.5
        with pytest.raises(FileExistsError):
            pipeline.write(pipeline.from_array(frames), target)
        again = pipeline.write(pipeline.from_array(frames + 1), target, overwrite=True)
        np.testing.assert_array_equal(np.asarray(again), frames + 1)


def _run(work: Any, n: int) -> None:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


__all__ = ["StoreConformance"]
