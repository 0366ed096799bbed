"""S3 and S3-compatible object stores (AWS, MinIO, Ceph, moto) as a backend, through s3fs.

An object store has no rename, but every PUT is atomic and S3 takes two
conditions on it: ``If-None-Match: *`` (create only if absent) and
``If-Match: <etag>`` (replace only the version read).  :meth:`S3Backend.create`
and :meth:`S3Backend.replace` are those, so claims and commits are atomic
across processes and hosts (:attr:`conditional` is True), where fsspec's
generic backend can promise that only within one process.  A server that
ignores the conditions is found out when a target is claimed
(:mod:`pipeline.persist.claim`).

s3fs rather than obstore: zarr-python reads and writes through fsspec's
``FsspecStore`` already, s3fs is the library facility users configure
(profiles, ``endpoint_url``, anonymous access) and its ``cat_ranges`` keeps
many ranged GETs in flight; the measured comparison is in
``benchmarks/README.md`` (``object_store``).
"""

from __future__ import annotations

from typing import Any

from pipeline.storage.remote import FsspecBackend


def _etag(info: dict[str, Any]) -> str:
    return str(info.get("ETag") or info.get("etag") or "")


class S3Backend(FsspecBackend):
    """An S3 endpoint (``storage_options`` as s3fs takes them: ``key``, ``secret``,
    ``profile``, ``anon``, ``client_kwargs={"endpoint_url": ...}``)."""

    conditional = True

    def __init__(self, protocol: str = "s3", storage_options: dict[str, Any] | None = None
                 ) -> None:
        super().__init__("s3", storage_options)

    def _info(self, path: str) -> dict[str, Any]:
        return dict(self.fs.info(path, refresh=True))  # never a listing cached earlier

    def _version_of(self, info: dict[str, Any]) -> str:
        return _etag(info)

    def list(self, path: str) -> list[str]:
        self.fs.invalidate_cache(path)
        return super().list(path)

    def create(self, path: str, data: bytes) -> bool:
        try:
            self.fs.pipe_file(path, data, mode="create")  # If-None-Match: *
        except FileExistsError:
            return False
        return True

    def replace(self, path: str, data: bytes, version: str) -> bool:
        bucket, key, _ = self.fs.split_path(path)
        try:
            self.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, IfMatch=version)
        except (FileNotFoundError, FileExistsError):
            return False  # no object, or another version (s3fs: PreconditionFailed)
        except OSError as err:
            if "PreconditionFailed" in str(err) or "pre-condition" in str(err):
                return False
            raise
        finally:
            self.fs.invalidate_cache(path)
        return True


__all__ = ["S3Backend"]
