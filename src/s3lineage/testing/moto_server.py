"""moto in server mode on a free 127.0.0.1 port, as a separate process (S3 and SQS), for
the test suite and the discovery benchmark. Reach it through boto3 with ``endpoint_url``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


class MotoUnavailable(RuntimeError):
    """The server did not answer (moto[server] missing, or it crashed at start)."""


@contextmanager
def moto_server(timeout: float = 30.0) -> Iterator[str]:
    """Start the server, yield ``http://127.0.0.1:<port>``, stop it on exit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise MotoUnavailable("moto server did not start (pip install 'moto[server]')") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
