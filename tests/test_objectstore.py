"""Inputs in object storage, against a real S3 server on 127.0.0.1 (tests/s3server.py): the
same files in a bucket give the same report and events as on disk; objects that are damaged,
deleted or replaced after they were listed, and prefixes that cannot be listed, are reported
by name."""

import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from s3server import S3Store, s3_store

from golden_cases import REPO
from logscan import executors, objectstore, scan, shards, sources
from logscan.cli import main
from logscan.errors import UsageError

__all__ = ["s3_store"]  # the session's server, a fixture

SAMPLE_LOGS = REPO / "sample_logs"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def local_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The CSV report and the events of sample_logs/ read from disk."""
    events = tmp_path_factory.mktemp("local") / "events.csv"
    result = invoke("scan", f"{SAMPLE_LOGS}/", "-f", "csv", "--events", str(events))
    assert result.exit_code == 0, result.output
    return result.stdout, events.read_text()


def test_a_bucket_gives_what_the_same_files_on_disk_give(
    s3_store: S3Store, local_scan: tuple[str, str], tmp_path: Path
) -> None:
    url = s3_store.upload(SAMPLE_LOGS, s3_store.prefix())
    events = tmp_path / "events.csv"
    result = invoke("scan", url, "-f", "csv", "--events", str(events), *s3_store.cli_options)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    report, local_events = local_scan
    assert result.stdout == report
    # Row for row, the objects' URLs in place of the files' paths.
    assert events.read_text().replace(url, f"{SAMPLE_LOGS}/") == local_events
    assert url in events.read_text()


def test_objects_are_listed_in_key_order_with_sizes(s3_store: S3Store) -> None:
    url = s3_store.upload(SAMPLE_LOGS / "ollama", s3_store.prefix())
    s3_store.filesystem().pipe(f"{url.removeprefix('s3://')}.hidden/server.log", b"not read\n")
    listed = sources.expand([url], storage_options=s3_store.storage_options)
    local = sorted(path for path in (SAMPLE_LOGS / "ollama").iterdir())
    assert [source.name for source in listed] == [url + path.name for path in local]
    assert [source.size for source in listed] == [path.stat().st_size for path in local]
    assert all(source.remote and source.remote.etag for source in listed)
    [one] = sources.expand([url + "server.log"], storage_options=s3_store.storage_options)
    assert one.named and one.name == url + "server.log"
    globbed = sources.expand([url + "*.log"], storage_options=s3_store.storage_options)
    assert [source.name for source in globbed] == [
        url + name for name in ("server-color.log", "server-v0.1.22.log", "server.log")
    ]


def test_damaged_compressed_objects_are_named_as_files_are(s3_store: S3Store, tmp_path: Path) -> None:
    prefix = s3_store.prefix()
    whole = gzip.compress((SAMPLE_LOGS / "ollama" / "server.log").read_bytes() * 20)
    cut = whole[: len(whole) // 2]
    s3_store.filesystem().pipe(f"{prefix}/cut.log.gz", cut)
    (tmp_path / "cut.log.gz").write_bytes(cut)
    on_disk = invoke("scan", f"{tmp_path}/", "-f", "csv", "--strict")
    result = invoke("scan", f"s3://{prefix}/", "-f", "csv", "--strict", *s3_store.cli_options)
    assert result.exit_code == 3
    assert result.stderr == (
        f"logscan: warning: s3://{prefix}/cut.log.gz: read failed: compressed data ends early (the file is truncated)\n"
    )
    assert on_disk.stderr == result.stderr.replace(f"s3://{prefix}/", f"{tmp_path}/")
    # The 400s before the damage are counted, as they are on disk.
    assert result.stdout == on_disk.stdout
    assert "unclassified,true," in result.stdout


def test_an_object_deleted_or_replaced_after_listing_is_reported(s3_store: S3Store) -> None:
    prefix = s3_store.prefix()
    filesystem = s3_store.filesystem()
    for name in ("deleted.log", "replaced.log", "kept.log"):
        filesystem.pipe(f"{prefix}/{name}", (SAMPLE_LOGS / "ollama" / "server.log").read_bytes())
    listed = sources.expand([f"s3://{prefix}/"], storage_options=s3_store.storage_options)
    filesystem.rm_file(f"{prefix}/deleted.log")
    filesystem.pipe(
        f"{prefix}/replaced.log", b'[GIN] 2025/05/07 - 06:05:59 | 400 | 1ms | 127.0.0.1 | POST "/api/chat"\n'
    )

    result = scan.run(scan.ScanOptions(paths=()), sources_list=listed)
    errors = {report.name.rsplit("/", 1)[1]: report.error for report in result.files}
    assert errors == {
        "deleted.log": "vanished after it was listed (deleted?)",
        "kept.log": None,
        "replaced.log": "replaced since it was listed (another size or ETag): not read",
    }
    [kept] = [report for report in result.files if report.name.endswith("/kept.log")]
    assert kept.occurrences == 14  # ollama/server.log's, counted by hand


def test_prefixes_that_cannot_be_listed_are_named(s3_store: S3Store) -> None:
    empty = f"s3://{s3_store.prefix()}/"
    result = invoke("scan", empty, "-f", "csv", *s3_store.cli_options)
    assert result.exit_code == 2
    assert result.stderr == f"logscan: warning: {empty}: no object under this prefix\n"

    wrong_key = [option for option in s3_store.cli_options if "key=" not in option] + [
        "--storage-option=key=nobody"
    ]
    result = invoke("scan", empty, "-f", "csv", *wrong_key)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"logscan: warning: {empty}: not listed: PermissionError: ")


def test_storage_options_are_typed_and_nested() -> None:
    assert objectstore.parse_options(
        [
            "endpoint_url=http://127.0.0.1:9000",
            "anon=true",
            "max_concurrency=4",
            "client_kwargs.region_name=eu-1",
        ]
    ) == {
        "endpoint_url": "http://127.0.0.1:9000",
        "anon": True,
        "max_concurrency": 4,
        "client_kwargs": {"region_name": "eu-1"},
    }
    with pytest.raises(UsageError, match="is not KEY=VALUE"):
        objectstore.parse_options(["endpoint_url"])


@given(st.lists(st.text(max_size=30), max_size=5))
def test_any_storage_option_text_parses_or_is_a_usage_error(given_options: list[str]) -> None:
    try:
        parsed = objectstore.parse_options(given_options)
    except UsageError as error:
        assert "--storage-option" in str(error)
    else:
        assert len(parsed) <= len(given_options)


def test_only_object_store_urls_are_remote() -> None:
    assert [
        objectstore.is_remote(spec) for spec in ("s3://b/p/", "S3://b", "gs://b/x", "az://c/x", "abfs://c")
    ] == [True] * 5
    assert not any(
        objectstore.is_remote(spec) for spec in ("/var/log/x.log", "-", "http://host/x", "file:///x", "s3:/x")
    )


def test_a_large_plain_object_is_cut_where_the_file_would_be(
    s3_store: S3Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "logs"
    local.mkdir()
    (local / "chatbot-many.log").write_text((SAMPLE_LOGS / "app" / "chatbot.log").read_text() * 40)
    shutil.copy(SAMPLE_LOGS / "ollama" / "server.log.1.gz", local)
    url = s3_store.upload(local, s3_store.prefix())
    monkeypatch.setattr(shards, "MIN_PART_BYTES", 180_000)
    monkeypatch.setattr(shards, "REMOTE_PART_BYTES", 180_000)
    listed = sources.expand([url], storage_options=s3_store.storage_options)

    def cuts(planned: list[shards.Shard]) -> list[tuple[tuple[int, ...], list[tuple[int, int | None]]]]:
        return [(shard.part_numbers, [(part.start, part.end) for part in shard.parts]) for shard in planned]

    planned = shards.plan(listed, 2, remote=True)
    assert cuts(planned) == cuts(shards.plan(sources.expand([str(local)]), 2, remote=True))
    assert [shard.part_numbers for shard in planned] == [(number,) for number in range(6)] + [(0,)]

    from_bucket = scan.run(
        scan.ScanOptions(paths=()), sources_list=listed, executor=executors.InProcess(shares_files=False)
    )
    on_disk = scan.run(scan.ScanOptions(paths=[str(local)], jobs=1))
    expected = on_disk.events.collect()
    found = from_bucket.events.collect().with_columns(
        pl.col("file", "matched_file").str.replace(url, f"{local}/", literal=True)
    )
    assert found.equals(expected)
    assert expected.height > 640
    assert [report.lines for report in from_bucket.files] == [report.lines for report in on_disk.files]
