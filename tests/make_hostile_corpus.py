"""Writes the hostile corpus in tests/hostile/ (run it again after changing it; the files are
committed). tests/hostile_expectations.json, counted by hand from what is written here, says what a scan of
this folder must report for each file."""

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import zstandard

HERE = Path(__file__).resolve().parent / "hostile"
CLIENT_400 = b'2025-05-07 07:14:04,512 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 400 Bad Request"\n'
CLIENT_200 = b'2025-05-07 07:14:03,512 INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 200 OK"\n'
GIN_400 = b'[GIN] 2025/05/07 - 07:14:04 | 400 |    1.204ms |       127.0.0.1 | POST     "/api/chat"\n'
GIN_200 = b'[GIN] 2025/05/07 - 07:14:03 | 200 |  512.031ms |       127.0.0.1 | POST     "/api/chat"\n'


def numbered_200s(count: int) -> bytes:
    return b"".join(
        b"2025-05-07 07:14:03,%03d INFO app: request %d done\n" % (i % 1000, i) for i in range(count)
    )


def main() -> None:
    write = lambda name, data: (HERE / name).write_bytes(data)  # noqa: E731
    write("empty.log", b"")
    write("emptied.log.1.gz", gzip.compress(b"", mtime=0))
    write("emptied.log.2.zst", zstandard.ZstdCompressor().compress(b""))
    # A SQLite file holding a 400 line: binary, skipped. 2 newlines in its first 32 KiB.
    write(
        "history.sqlite",
        b"SQLite format 3\x00"
        + b"\x10\x00\x01\x01"
        + b"\x00" * 80
        + CLIENT_400
        + b"\x00" * 400
        + b"tail\n"
        + b"\x00" * 100,
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("app.log", CLIENT_200 + CLIENT_400)
        zipped.writestr("nested/worker.log", CLIENT_400 + CLIENT_200 + CLIENT_400)
        zipped.writestr("nested/", b"")
    write("logs.zip", archive.getvalue())
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tarred:
        for name, data in (("server.log", GIN_200 + GIN_400), ("server.log.1", GIN_400 * 3)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tarred.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("current.log")
        link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "server.log", 0
        tarred.addfile(link)
    write("logs.tar.gz", archive.getvalue())
    # Damage in the middle and a cut end: how much each keeps is what an independent decoder
    # gives (the test decodes it with the standard library, byte by byte).
    damaged = bytearray(gzip.compress(numbered_200s(20_000), mtime=0))
    damaged[len(damaged) // 2] ^= 0x55
    write("damaged.log.gz", bytes(damaged))
    write("truncated.log.zst", zstandard.ZstdCompressor().compress(numbered_200s(20_000))[:-4000])
    write("trailing-garbage.log.gz", gzip.compress(CLIENT_400 * 2, mtime=0) + b"garbage, not gzip")
    # A NUL past the first 32 KiB: text with one replaced line, not binary.
    write("nul-later.log", numbered_200s(700) + b"a NUL \x00 here\n" + CLIENT_400)
    write(
        "utf16.log",
        ("\ufeff" + (CLIENT_400 + CLIENT_200).decode())
        .encode("utf-16-le")
        .replace(b"\n\x00", b"\r\x00\n\x00"),
    )
    write("crlf-no-final-newline.log", CLIENT_400.replace(b"\n", b"\r\n") + CLIENT_200.rstrip(b"\n"))
    write("lone-cr.log", b"first\rsame line\n\r\n" + CLIENT_400 + b"\r")
    write("invalid-utf8.log", b"bad \xff\xfe byte\n" + CLIENT_400 + b"\xc3(\n")
    # 3 MiB without a newline, then a 400: one line cut, one 400 (the cut line's 400 is past the cut).
    write(
        "long-line.log.gz",
        gzip.compress(b"x" * (3 * 1024 * 1024) + b" 400 Bad Request\n" + CLIENT_400, mtime=0),
    )
    # A tar not named as one: binary (NULs in its header block), skipped.
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tarred:
        info = tarfile.TarInfo("inner.log")
        info.size, info.mtime = len(CLIENT_400), 0
        tarred.addfile(info, io.BytesIO(CLIENT_400))
    write("backup.bin", archive.getvalue())
    outside = HERE / "outside.log"
    outside.unlink(missing_ok=True)
    outside.symlink_to("../../sample_logs/app/chatbot.log")


if __name__ == "__main__":
    main()
