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

import builtins
import errno
from collections.abc import Sequence
from typing import Any

from pipeline.errors import StorageError
from pipeline.storage.remote import FsspecBackend


MAX_CONNECTIONS = 64
"""Connections to the endpoint (botocore's ``max_pool_connections``) unless given."""


def _etag(info: dict[str, Any]) -> str:
    return str(info.get("ETag") or info.get("etag") or "")


class S3Backend(FsspecBackend):
    """An S3 endpoint (``storage_options`` as s3fs takes them: ``key``, ``secret``,
    ``profile``, ``anon``, ``client_kwargs={"endpoint_url": ...}``)."""

    conditional = True

    def __init__(self, protocol: str = "s3", storage_options: dict[str, Any] | None = None
                 ) -> None:
        super().__init__("s3", storage_options)

    @property
    def fs(self) -> Any:
        if self._fs is None:
            options = dict(self.storage_options)
            # requests kept in flight need connections: botocore's default pool holds 10
            config = {"max_pool_connections": MAX_CONNECTIONS, **(options.get("config_kwargs")
                                                                    or {})}
            options.setdefault("max_concurrency", 1)  # whole objects in one GET, no HEAD first
            self._fs = self._filesystem(config_kwargs=config, **{
                k: v for k, v in options.items() if k != "config_kwargs"})
        return self._fs

    def _info(self, path: str) -> dict[str, Any]:
        return dict(self.fs.info(path, refresh=True))  # never a listing cached earlier

    def _version_of(self, info: dict[str, Any]) -> str:
        return _etag(info)

    def list(self, path: str) -> list[str]:
        self.fs.invalidate_cache(path)
        return super().list(path)

    # -- reading: one GET each, many in flight -----------------------------------------

    async def _get(self, path: str, start: int, stop: int | None) -> tuple[bytes, str]:
        """Bytes ``start:stop`` and the ETag, in one GET (a negative start: a suffix)."""
        from s3fs.errors import translate_boto_error

        if stop is not None and (stop <= start or (start < 0 and stop <= 0)):
            return b"", _etag(await self.fs._info(path, refresh=True))
        bucket, key, _ = self.fs.split_path(path)
        head = {}
        if start < 0:
            head["Range"] = f"bytes={start}"
        elif start > 0 or stop is not None:
            head["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        try:
            resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=key, **head)
        except FileNotFoundError:
            raise
        except OSError as err:
            if "InvalidRange" in str(err) or "416" in str(err):  # past the end: no bytes
                return b"", _etag(await self.fs._info(path, refresh=True))
            raise
        except Exception as err:  # noqa: BLE001  (botocore's errors, as s3fs translates them)
            raise translate_boto_error(err) from None
        try:
            data = await resp["Body"].read()
        finally:
            resp["Body"].close()
        return bytes(data), _etag(resp)

    def read(self, path: str, start: int = 0, stop: int | None = None, *,
             limit: int | None = None, follow: bool = True) -> bytes:
        if limit is not None:
            data, _ = self.read_versioned(path, 0, limit + 1)
            if len(data) > limit:
                raise StorageError(errno.EFBIG, f"{self.url(path)!r} holds more than the "
                                   f"{limit} bytes expected")
            return data[start:stop]
        return self.read_versioned(path, start, stop)[0]

    def read_versioned(self, path: str, start: int = 0, stop: int | None = None
                       ) -> tuple[bytes, str]:
        from fsspec.asyn import sync

        return sync(self.fs.loop, self._get, path, start, stop)  # type: ignore[no-any-return]

    def read_many(self, requests: Sequence[tuple[str, int, int | None]]
                  ) -> builtins.list[tuple[bytes, str] | None]:
        """Several ranged reads at once, all in flight together; None for a missing object."""
        import asyncio

        from fsspec.asyn import sync

        async def one(path: str, start: int, stop: int | None) -> tuple[bytes, str] | None:
            try:
                return await self._get(path, start, stop)
            except FileNotFoundError:
                return None

        async def every() -> builtins.list[tuple[bytes, str] | None]:
            return list(await asyncio.gather(*(one(*r) for r in requests)))

        return sync(self.fs.loop, every)  # type: ignore[no-any-return]

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
