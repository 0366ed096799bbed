"""Every backend of the storage seam passes the store conformance laws."""

from __future__ import annotations

import uuid

from pipeline import storage
from pipeline.testing import StoreConformance


class TestLocalBackend(StoreConformance):
    def root(self, tmp_path):
        return storage.locate(tmp_path / "root")


class TestMemoryBackend(StoreConformance):
    def root(self, tmp_path):
        return storage.locate(f"memory://{uuid.uuid4().hex}")
