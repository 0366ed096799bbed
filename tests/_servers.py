"""Real servers the tests start on 127.0.0.1 and end by the pid they recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

MOTO = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test run closes our stdin (or kills us)
"""


@dataclass
class S3Server:
    """moto's S3 server in a process of its own, on 127.0.0.1."""

    proc: subprocess.Popen[str]
    port: int
    buckets: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, timeout: float = 60) -> S3Server:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        proc = subprocess.Popen([sys.executable, "-c", MOTO], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env)
        end = time.monotonic() + timeout
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.strip().isdigit() or time.monotonic() > end:
            proc.kill()
            raise RuntimeError(f"moto's server did not start: {line!r}")
        return cls(proc, int(line))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def options(self) -> dict[str, Any]:
        """s3fs storage_options reaching this server."""
        return {"key": "testing", "secret": "testing",
                "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"}}

    def bucket(self) -> str:
        """A new, empty bucket; its name."""
        import s3fs

        name = f"t{uuid.uuid4().hex[:16]}"
        s3fs.S3FileSystem(**self.options).call_s3("create_bucket", Bucket=name)
        self.buckets.append(name)
        return name

    def stop(self) -> None:
        """End the server, by the pid recorded when it started."""
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_proxy.py")


@dataclass
class Proxy:
    """tests/_proxy.py in a process of its own, in front of an S3 server."""

    proc: subprocess.Popen[str]
    port: int
    server: S3Server

    @classmethod
    def start(cls, server: S3Server, delay_ms: float = 0, strip_conditions: bool = False
              ) -> Proxy:
        args = [sys.executable, PROXY, str(server.port), "--delay", str(delay_ms)]
        if strip_conditions:
            args.append("--strip-conditions")
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.strip().isdigit():
            proc.kill()
            raise RuntimeError(f"the proxy did not start: {line!r}")
        return cls(proc, int(line), server)

    @property
    def options(self) -> dict[str, Any]:
        """s3fs storage_options reaching the server through this proxy."""
        return {**self.server.options, "client_kwargs": {
            "endpoint_url": f"http://127.0.0.1:{self.port}", "region_name": "us-east-1"}}

    def stats(self) -> dict[str, int]:
        import json
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__stats", timeout=30) as r:
            return dict(json.load(r))

    def stop(self) -> None:
        S3Server.stop(self)  # type: ignore[arg-type]  (the same: by its pid)
