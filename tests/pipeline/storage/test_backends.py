"""Every backend of the storage seam passes the store conformance laws."""

from __future__ import annotations

import uuid

import pytest

from pipeline import storage
from pipeline.testing import StoreConformance


class TestLocalBackend(StoreConformance):
    def root(self, tmp_path):
        return storage.locate(tmp_path / "root")


class TestMemoryBackend(StoreConformance):
    def root(self, tmp_path):
        return storage.locate(f"memory://{uuid.uuid4().hex}")


class TestS3Backend(StoreConformance):
    @pytest.fixture(autouse=True)
    def _server(self, s3):
        self._root, self._options = s3

    def root(self, tmp_path):
        return storage.locate(f"{self._root}/{tmp_path.name}", self._options)
