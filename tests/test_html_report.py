"""-f html: the page's tables for sample_logs/ against the hand-counted expectations, the same
figures as the JSON report, every log text escaped, the chart for one window and for a day of
10 s windows, the run header and trends, and the page as a real headless Chromium loads it."""

import dataclasses
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from golden_cases import REPO
from logscan import sanitize
from logscan import scan as pipeline
from logscan.cli import main
from logscan.render import RENDERERS, RenderOptions
from logscan.render.html import CONTENT_SECURITY_POLICY, MAX_WINDOW_ROWS, text
from logscan.render.html_chart import BUILT_IN_COLOURS, MAX_BARS
from logscan.results import RunInfo
from logscan.trends import CategoryTrend, Flag

EXPECTED = json.loads((REPO / "tests" / "sample_expectations.json").read_text())
GIN = '[GIN] 2025/05/07 - {time} | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"\n'


class Page(HTMLParser):
    """The parts of a page the tests read: each table's rows of cell texts under the heading
    above it, every tag and attribute, and the chart's bar segments."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str, str | None]] = []
        self.bars: list[dict[str, str | None]] = []
        self.headline: dict[str, str] = {}
        self._heading = ""
        self._text: list[str] | None = None
        self._rows: list[list[str]] | None = None
        self._term = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes += [(tag, name, value) for name, value in attrs]
        if tag == "rect":
            self.bars.append(dict(attrs))
        if tag in ("h2", "td", "th", "dt", "dd"):
            self._text = []
        if tag == "table":
            self._rows = self.tables.setdefault(self._heading, [])
        if tag == "tr" and self._rows is not None:
            self._rows.append([])

    def handle_endtag(self, tag: str) -> None:
        if self._text is None:
            return
        content = "".join(self._text).strip()
        if tag == "h2":
            self._heading, self._text = content, None
        elif tag in ("td", "th") and self._rows is not None:
            self._rows[-1].append(content)
            self._text = None
        elif tag == "dt":
            self._term, self._text = content, None
        elif tag == "dd":
            self.headline[self._term], self._text = content, None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def rows(self, heading: str) -> dict[str, list[str]]:
        """The table under ``heading``, by the text of each row's first cell (the header row
        under its first header)."""
        return {row[0]: row[1:] for row in self.tables[heading]}


def scan(*args: str) -> str:
    result = CliRunner().invoke(main, ["scan", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def sample_pages() -> dict[str, str]:
    """-f html and -f json of sample_logs/, named as the expectations name them."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return {name: scan("sample_logs", "-f", name) for name in ("html", "json")}
    finally:
        os.chdir(cwd)


def test_html_is_a_format_of_the_command_line() -> None:
    assert "html" in RENDERERS
    assert "html: one self-contained page with a chart" in " ".join(scan("--help").split())


def test_inputs_table_has_the_hand_counted_400s_of_every_file(sample_pages: dict[str, str]) -> None:
    inputs = Page(sample_pages["html"]).rows("Inputs")
    assert inputs.pop("file") == ["format", "compressed", "lines", "records", "400s", "problem"]
    expected = {
        f"sample_logs/{name}": sum(sum(side.values()) for side in sides.values())
        for name, sides in EXPECTED["files"].items()
    }
    assert {name: int(cells[4]) for name, cells in inputs.items()} == expected


def test_causes_table_counts_the_hand_counted_records(sample_pages: dict[str, str]) -> None:
    page = Page(sample_pages["html"])
    causes = page.rows("Failed requests by cause")
    assert causes.pop("cause") == [
        "category", "requests", "share", "server records", "client records", "first seen (UTC)",
        "last seen (UTC)",
    ]  # fmt: skip
    occurrences = EXPECTED["occurrences"]
    sides = Counter(occurrence["side"] for occurrence in occurrences)
    total = causes["Total"]
    # Every server record is Ollama's; the client records are split between the requests that
    # reached Ollama and the 400s the applications answered themselves, each of which left one
    # record (the notes of the expectations list them).
    other_requests = sum(int(row[2]) for row in page.tables[_OTHER][1:])
    assert total[3] == str(sides["server"]) == "62"
    assert int(total[4]) + other_requests == sides["client"] == 67
    # Proxy and gateway 400s that never reach Ollama: one client record each, no server record,
    # so each is a request of its own (the notes of the expectations list them).
    client_only = Counter(
        occurrence["category"]
        for occurrence in occurrences
        if occurrence["category"] in ("rate_limit", "auth", "server_misconfig")
    )
    assert client_only == {"rate_limit": 2, "auth": 2, "server_misconfig": 3}
    for title, category in (
        ("Rate or usage limit (not from Ollama)", "rate_limit"),
        ("Authentication or permission (not from Ollama)", "auth"),
        ("Server or proxy configuration", "server_misconfig"),
    ):
        row = causes[title]
        assert row[:2] == [category, str(client_only[category])]
        assert row[3:5] == ["0", str(client_only[category])]


_OTHER = "Other 400s (the applications answered them; in none of the counts above)"


def test_html_agrees_with_the_json_report(sample_pages: dict[str, str]) -> None:
    document = json.loads(sample_pages["json"])
    page = Page(sample_pages["html"])
    causes = page.rows("Failed requests by cause")
    for category in document["categories"]:
        row = causes[category["title"]]
        assert row[:5] == [
            category["category"],
            str(category["requests"]),
            f"{category['share']:.1%}",
            str(category["server_records"]),
            str(category["client_records"]),
        ]
    assert causes["Total"][1:5] == [
        str(document["requests"]),
        "100.0%",
        str(document["records"]["server"]),
        str(document["records"]["client"]),
    ]
    assert page.headline["Failed requests"] == (
        f"{document['requests']} (in {document['records']['server'] + document['records']['client']} records:"
        f" {document['records']['server']} server, {document['records']['client']} client)"
    )
    # The chart and the table of windows hold every timed request of Ollama's, per category.
    timed: Counter[str] = Counter()
    for window in document["windows"]:
        if window["ollama"] and window["window_start"] and window["category"]:
            timed[window["category"]] += window["requests"]
    charted: Counter[str] = Counter()
    for bar in page.bars:
        charted[str(bar["data-category"])] += int(str(bar["data-requests"]))
    assert charted == timed
    assert sum(timed.values()) == document["requests"] - document["untimed"]
    windows = page.tables["Failed requests per 1h window"]
    categories = windows[0][1:-1]
    per_category = [sum(int(row[1 + index]) for row in windows[1:]) for index in range(len(categories))]
    assert dict(zip(categories, per_category, strict=True)) == timed
    assert sum(int(row[-1]) for row in windows[1:]) == sum(timed.values())
    other = page.tables[_OTHER][1:]
    assert sum(int(row[2]) for row in other) == document["other_400s"]["requests"]


def test_every_built_in_category_keeps_its_colour_in_bars_and_table(sample_pages: dict[str, str]) -> None:
    html = sample_pages["html"]
    for bar in Page(html).bars:
        assert bar["fill"] == BUILT_IN_COLOURS[str(bar["data-category"])]
    for category, colour in BUILT_IN_COLOURS.items():
        assert f'<span class="swatch" style="background:{colour}"></span>{category}</li>' in html


HOSTILE_LINES = [
    "2025-05-07 06:30:02,200 ERROR bot: ResponseError: <script>alert(1)</script> (status code: 400)",
    '2025-05-07 06:31:02,200 ERROR bot: ResponseError: "><img src=x onerror=alert(2)> (status code: 400)',
    "2025-05-07 06:32:02,200 ERROR bot: ResponseError: model is required <b onmouseover=x> (status code: 400)",
]


def test_text_from_logs_and_file_names_is_escaped(tmp_path: Path) -> None:
    log = tmp_path / "a<b>&'c\".log"
    log.write_text("\n".join(HOSTILE_LINES) + "\n")
    html = scan(str(log), "-f", "html")
    page = Page(html)
    # Only the page's own elements: nothing from the log became a tag or an attribute.
    assert set(page.tags) <= {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "dl", "dt", "dd", "ul", "li",
        "code", "p", "div", "table", "thead", "tbody", "tr", "th", "td", "span", "figure", "svg",
        "line", "text", "rect", "br",
    }  # fmt: skip
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags
    assert not [attribute for attribute in page.attributes if attribute[1].startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "a&lt;b&gt;&amp;&#x27;c&quot;.log" in html
    # Kept by the scan itself: no --events needed.
    assert page.tables["Examples per cause"] == [
        ["category", "time", "at", "side", "record"],
        ["invalid_model_name", "2025-05-07 06:32:02", f"{log}:3", "client", HOSTILE_LINES[2]],
        ["unclassified", "2025-05-07 06:30:02", f"{log}:1", "client", HOSTILE_LINES[0]],
        ["unclassified", "2025-05-07 06:31:02", f"{log}:2", "client", HOSTILE_LINES[1]],
    ]


@given(st.text())
def test_any_text_reads_back_as_itself_made_inert_and_opens_no_tag(value: str) -> None:
    page = Page(f'<table><tr><td title="{text(value)}">{text(value)}</td></tr></table>')
    assert page.tags == {"table": 1, "tr": 1, "td": 1}
    assert page.attributes == [("td", "title", sanitize.terminal(value))]
    assert page.tables[""] == [[sanitize.terminal(value).strip()]]


def test_an_empty_scan_is_a_page_without_a_chart(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.log"
    quiet.write_text(GIN.format(time="06:00:00").replace("| 400 |", "| 200 |"))
    page = Page(scan(str(quiet), "-f", "html"))
    assert page.headline["Failed requests"] == "0 (in 0 records: 0 server, 0 client)"
    assert page.headline["Seen"] == "no timestamp"
    assert "svg" not in page.tags and "Failed requests by cause" not in page.tables
    assert page.rows("Inputs")[str(quiet)][:5] == ["ollama-server", "", "1", "1", "0"]


def test_one_window_is_one_bar_no_wider_than_a_bar_may_be(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(GIN.format(time="06:05:59") + GIN.format(time="06:45:00"))
    page = Page(scan(str(log), "-f", "html"))
    (bar,) = page.bars
    assert (bar["data-category"], bar["data-requests"]) == ("unclassified", "2")
    assert float(str(bar["width"])) == 80
    assert page.rows("Failed requests per 1h window")["2025-05-07 06:00"] == ["2", "2"]


def test_a_day_of_10s_windows_is_summed_into_fewer_bars(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    # One 400 in each of the 8,640 windows of 10 s of the day, two in every tenth window.
    times = [
        f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}" for second in range(0, 86400, 10)
    ]
    extra = times[::10]
    log.write_text("".join(GIN.format(time=time) for time in times + extra))
    html = scan(str(log), "-f", "html", "--window", "10s")
    page = Page(html)
    # 8,640 windows in 888 units of width: ten windows a bar, 864 bars of 11 requests.
    assert len(page.bars) == 864 <= MAX_BARS
    assert {bar["data-requests"] for bar in page.bars} == {"11"}
    assert sum(int(str(bar["data-requests"])) for bar in page.bars) == len(times) + len(extra) == 9504
    windows = page.tables["Failed requests per 10s window"]
    assert len(windows) == 1 + MAX_WINDOW_ROWS
    assert windows[1:4] == [
        ["2025-05-07 00:00:00", "2", "2"],
        ["2025-05-07 00:00:10", "1", "1"],
        ["2025-05-07 00:00:20", "1", "1"],
    ]
    assert "<p>8,140 more windows not shown here (they are in the chart; -f csv lists each).</p>" in html
    assert "Each bar sums 10 consecutive windows" in html


def _small_result(tmp_path: Path) -> pipeline.ScanResult:
    log = tmp_path / "app.log"
    log.write_text(
        "2025-05-07 06:20:01,100 ERROR bot: chat failed: ResponseError: registry.ollama.ai/library/gemma:2b"
        " does not support tools (status code: 400)\n"
    )
    return pipeline.run(pipeline.ScanOptions(paths=[str(log)]))


def test_run_info_and_trends_are_shown_when_set(tmp_path: Path) -> None:
    result = dataclasses.replace(
        _small_result(tmp_path),
        run_info=RunInfo(
            generated_at=datetime(2025, 5, 8, 4, 0, 5, tzinfo=timezone(timedelta(hours=2))),
            version="9.8.7",
            since=datetime(2025, 5, 7, 2, 0, tzinfo=UTC),
            until=None,
            inputs=("/var/log/<app>/", "server.log.1.gz"),
            duration_seconds=1.25,
        ),
        trends=[
            CategoryTrend("unsupported_capability", 1, 0, 0.0, 1, frozenset({Flag.NEW})),
            CategoryTrend("request_format", 20, 2, 3.5, 18, frozenset({Flag.SPIKE, Flag.NEW})),
            CategoryTrend("auth", 0, 4, 4.0, -4, frozenset()),
        ],
    )
    html = RENDERERS["html"](result, RenderOptions())
    page = Page(html)
    assert {name: page.headline[name] for name in ("Generated", "logscan version", "Since", "Until")} == {
        "Generated": "2025-05-08T02:00:05Z",
        "logscan version": "9.8.7",
        "Since": "2025-05-07 02:00:00 (UTC)",
        "Until": "-",
    }
    assert page.headline["Scan took"] == "1.2 s"
    assert "<li><code>/var/log/&lt;app&gt;/</code></li><li><code>server.log.1.gz</code></li>" in html
    assert page.tables["Trend against earlier runs"] == [
        ["category", "now", "previous run", "mean of last 7", "change", "flags"],
        ["unsupported_capability", "1", "0", "0.0", "+1", "new"],
        ["request_format", "20", "2", "3.5", "+18", "new, spike"],
        ["auth", "0", "4", "4.0", "-4", ""],
    ]
    first_run = dataclasses.replace(
        result, trends=[CategoryTrend("unsupported_capability", 1, None, None, None, frozenset())]
    )
    assert Page(RENDERERS["html"](first_run, RenderOptions())).tables["Trend against earlier runs"][1] == [
        "unsupported_capability", "1", "-", "-", "-", "",
    ]  # fmt: skip


def test_without_run_info_or_trends_neither_is_shown(tmp_path: Path) -> None:
    result = _small_result(tmp_path)
    assert result.run_info is None and result.trends is None
    page = Page(RENDERERS["html"](result, RenderOptions()))
    assert "Generated" not in page.headline and "Trend against earlier runs" not in page.tables
    assert page.headline["Failed requests"] == "1 (in 1 record: 0 server, 1 client)"


# A real browser loads the page: headless Chromium, with every host name resolving to nothing.

CHROMIUM = shutil.which("chromium")
_QUIET_BROWSER = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("chromium not found (Debian package chromium; .ci/run installs it)")
    return subprocess.run(
        [CHROMIUM, *_QUIET_BROWSER, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def _page_requests(net_log: Path) -> list[str]:
    """The URLs the page asked for: the requests of the file:// page's own network partition
    (Chromium's own background requests belong to none)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start and "file://" in event["params"].get("network_isolation_key", "")
    ]


def test_chromium_loads_the_page_with_its_tables_and_chart_and_fetches_nothing(
    sample_pages: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    report.write_text(sample_pages["html"])
    dumped = _chromium(
        tmp_path / "profile", f"--log-net-log={tmp_path / 'net.json'}", "--dump-dom", report.as_uri()
    )
    page, loaded = Page(sample_pages["html"]), Page(dumped.stdout)
    assert loaded.tables == page.tables
    assert [bar["data-requests"] for bar in loaded.bars] == [bar["data-requests"] for bar in page.bars]
    assert len(loaded.bars) == 11
    assert loaded.tags["svg"] == 1
    assert not [a for a in loaded.attributes if a[1] in ("src", "href", "xlink:href", "action", "srcset")]
    assert f'content="{CONTENT_SECURITY_POLICY}"' in dumped.stdout
    assert _page_requests(tmp_path / "net.json") == []


def test_the_request_check_sees_a_page_that_fetches(tmp_path: Path) -> None:
    """The check above would see a fetch: a page with an external image shows its request."""
    fetching = tmp_path / "fetching.html"
    fetching.write_text('<!DOCTYPE html><p>x</p><img src="http://logscan-test.invalid/x.png">')
    _chromium(tmp_path / "profile", f"--log-net-log={tmp_path / 'net.json'}", "--dump-dom", fetching.as_uri())
    assert _page_requests(tmp_path / "net.json") == ["http://logscan-test.invalid/x.png"]


def test_chromium_screenshot_shows_the_chart_in_the_category_colours(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        "2025-05-07 06:20:01,100 ERROR bot: chat failed: ResponseError: registry.ollama.ai/library/gemma:2b"
        " does not support tools (status code: 400)\n"
        "2025-05-07 06:30:02,200 ERROR bot: chat failed: ResponseError: shard 3 is draining (status code: 400)\n"
    )
    report = tmp_path / "report.html"
    report.write_text(scan(str(log), "-f", "html"))
    shot = tmp_path / "shot.png"
    _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1000,560", report.as_uri())
    colours = _png_colours(shot)
    assert len(colours) > 50  # text, lines and bars, not a blank page
    # One bar of two segments, each as wide as a bar may be: solid in its category's colour.
    for category in ("unsupported_capability", "unclassified"):
        colour = BUILT_IN_COLOURS[category]
        assert tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) in colours, category
    assert (0x00, 0x72, 0xB2) not in colours  # request_format: no bar of it


def _png_colours(path: Path) -> set[tuple[int, int, int]]:
    """The RGB colours of an 8-bit RGB or RGBA PNG (what Chromium writes), read with zlib."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        chunks.append((data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    header = dict(chunks)[b"IHDR"]
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6)
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * channels
    previous = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for row in range(height):
        kind, line = (
            raw[row * (stride + 1)],
            bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                guess = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner))[2]
                line[i] = (line[i] + guess) & 0xFF
        colours.update(zip(line[0::channels], line[1::channels], line[2::channels], strict=True))
        previous = line
    return colours


def test_a_category_of_a_user_rule_file_keeps_its_colour_from_run_to_run() -> None:
    """Another process (with another string hash seed) gives a user's category the same colour,
    one that no built-in category has."""
    ask = "from logscan.render.html_chart import category_colour; print(category_colour('team_quota'))"
    colours = {
        subprocess.run(
            [sys.executable, "-c", ask],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(colours) == 1
    (colour,) = colours
    assert colour.startswith("hsl(") and colour not in BUILT_IN_COLOURS.values()
