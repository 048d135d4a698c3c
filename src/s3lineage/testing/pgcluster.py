"""A throw-away PostgreSQL cluster for tests and fixture generation.

Follows the recipe in the project's reference notes: ``initdb`` refuses to run as root,
so when we are root every server binary runs as the ``postgres`` OS user via
``runuser``; the socket lives in a private temp dir so nothing touches
``/var/run/postgresql``; the server listens on a free port of 127.0.0.1 only.

Usage::

    with PrivateCluster(settings={"log_statement": "all"}) as pg:
        psycopg.connect(pg.dsn).execute("SELECT 1")
        pg.stop()  # flushes the log collector; then read pg.log_dir
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

DEFAULT_PGBIN = "/usr/lib/postgresql/15/bin"

# Settings that make a disposable cluster fast; callers' settings override them.
_BASE_SETTINGS: dict[str, str | int | bool] = {
    "listen_addresses": "127.0.0.1",
    "fsync": False,
    "synchronous_commit": False,
    "full_page_writes": False,
    "timezone": "UTC",
    "log_timezone": "UTC",
}


def pgbin_dir() -> Path:
    """Where the server binaries are: ``$S3LINEAGE_PGBIN`` or the Debian PG15 location."""
    return Path(os.environ.get("S3LINEAGE_PGBIN", DEFAULT_PGBIN))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


class ClusterError(RuntimeError):
    """The cluster could not be created or started; the message has the server log tail."""


class PrivateCluster:
    """A private PostgreSQL cluster in a temp dir: ``start()``, use ``dsn``, ``stop()``.

    ``settings`` go to postgresql.conf (not the command line, so values with spaces and
    quotes need no shell quoting). ``server_path`` dirs are put first on the server's
    PATH, e.g. for a fake program used by ``COPY … TO PROGRAM``.
    """

    def __init__(self, *, settings: Mapping[str, str | int | bool] | None = None,
                 server_path: Sequence[str | Path] = (), pgbin: str | Path | None = None,
                 os_user: str = "postgres", start_timeout: int = 60) -> None:
        self.settings = {**_BASE_SETTINGS, **(settings or {})}
        self.server_path = [str(p) for p in server_path]
        self.pgbin = Path(pgbin) if pgbin else pgbin_dir()
        self.os_user = os_user
        self.start_timeout = start_timeout
        self.root: Path | None = None
        self.port: int | None = None
        self._running = False

    @classmethod
    def available(cls, pgbin: str | Path | None = None) -> bool:
        """Whether a cluster can be started here (binaries present; a non-root user if root)."""
        bindir = Path(pgbin) if pgbin else pgbin_dir()
        if not (bindir / "initdb").exists():
            return False
        if os.geteuid() != 0:
            return True
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return False
        return shutil.which("runuser") is not None

    # ------------------------------------------------------------------ paths

    @property
    def data_dir(self) -> Path:
        return self._root / "data"

    @property
    def log_dir(self) -> Path:
        """Where ``logging_collector`` writes (log_directory = 'log' inside the data dir)."""
        return self.data_dir / "log"

    @property
    def socket_dir(self) -> Path:
        return self._root

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str) -> str:
        if self.port is None:
            raise ClusterError("cluster not started")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    @property
    def _root(self) -> Path:
        if self.root is None:
            raise ClusterError("cluster not started")
        return self.root

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """initdb + start; retries on a new port if another process grabbed ours."""
        self.root = Path(tempfile.mkdtemp(prefix="pg_private_"))
        try:
            self._chown(self.root)
            self.root.chmod(0o700)
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
            for attempt in range(3):
                self.port = _free_port()
                self._write_conf()
                try:
                    self._run("pg_ctl", "-D", str(self.data_dir), "-l",
                              str(self.root / "server.log"), "-w", "-t",
                              str(self.start_timeout), "start")
                    break
                except ClusterError:
                    if attempt == 2 or "could not bind" not in self._server_log_tail():
                        raise
            self._running = True
        except BaseException:
            self.remove()
            raise
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` lets the log collector flush); no-op if not running."""
        if self._running:
            self._running = False
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")
            except ClusterError:
                if mode == "immediate":
                    raise
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        """Delete the cluster directory (stop first)."""
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.remove()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers

    def psql(self, *args: str, dbname: str = "postgres", input: str | None = None,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the cluster's psql (as the calling user, over TCP) and return its output."""
        cmd = [str(self.pgbin / "psql"), "-X", "-h", "127.0.0.1", "-p", str(self.port),
               "-U", "postgres", "-d", dbname, *args]
        return subprocess.run(cmd, input=input, capture_output=True, text=True, check=False,
                              env={**os.environ, **(env or {})}, timeout=60)

    def _write_conf(self) -> None:
        settings = {**self.settings, "port": int(self.port or 0),
                    "unix_socket_directories": str(self.socket_dir)}
        lines = [f"{k} = {_conf_value(v)}" for k, v in settings.items()]
        # Appended last, these win over initdb's defaults; rewritten on a port retry.
        (self.data_dir / "postgresql.auto.conf").write_text(
            "# written by s3lineage.testing.pgcluster\n" + "\n".join(lines) + "\n")

    def _server_env(self) -> dict[str, str]:
        path = os.pathsep.join([*self.server_path, "/usr/local/bin", "/usr/bin", "/bin"])
        return {"PATH": path, "LANG": "C.UTF-8", "TZ": "UTC"}

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.pgbin / tool), *args]
        if os.geteuid() == 0:
            # runuser keeps most of our environment; `env -i` gives the server a clean one.
            env_args = [f"{k}={v}" for k, v in self._server_env().items()]
            cmd = ["runuser", "-u", self.os_user, "--", "env", "-i", *env_args, *cmd]
            env = None
        else:
            env = self._server_env()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self._root, env=env,
                              timeout=self.start_timeout + 30, check=False)
        if proc.returncode != 0:
            raise ClusterError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip()}\n"
                               f"{self._server_log_tail()}")

    def _server_log_tail(self, lines: int = 20) -> str:
        log = self._root / "server.log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, user=self.os_user)
