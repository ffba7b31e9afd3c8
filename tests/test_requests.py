"""From 400 records to failed requests.

The frames are written as the pipeline hands them over for real logs: one row per 400 record,
with the fields the formats pull out of each line (the lines are quoted above each record).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logscan.errors import UsageError
from logscan.requests import JoinOptions, RecordsFrameError, join, unmatched_server_requests
from logscan.requests.model import INPUT_COLUMNS

SCHEMA = {name: dtype or pl.Datetime("us", "UTC") for name, dtype in INPUT_COLUMNS.items()}
SERVER_BEHIND = timedelta(hours=2, seconds=3)
BASE = datetime(2025, 5, 7, 9, 0, 0, tzinfo=UTC)


def at(clock: str) -> datetime:
    """A true instant on the morning of the incident, ``MM:SS.mmm`` after 09:00."""
    minutes, seconds = clock.split(":")
    return BASE + timedelta(minutes=int(minutes), seconds=float(seconds))


def gin_clock(instant: datetime) -> datetime:
    """What the server writes: its clock is behind, and GIN drops the sub-seconds."""
    return (instant - SERVER_BEHIND).replace(microsecond=0)


@dataclass
class Log:
    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_record: int = 0

    def add(self, timestamp: datetime | None, *, skip: int = 0, **fields: Any) -> Log:
        """Append a 400 record; ``skip`` records that are not 400s come before it."""
        self.next_record += skip
        row = {
            "file": self.name,
            "record_no": self.next_record,
            "line": self.next_record + 1,
            "timestamp": timestamp,
            "side": "client",
            "kind": "client",
            "reasonless": False,
            "category": "unclassified",
            "ollama": False,
        }
        row.update(fields)
        self.rows.append(row)
        self.next_record += 1
        return self


def frame(*logs: Log) -> pl.DataFrame:
    rows = [row for log in logs for row in log.rows]
    return pl.DataFrame([{**row, "key": key} for key, row in enumerate(rows)], schema=SCHEMA)


def gin(
    log: Log, instant: datetime, endpoint: str, latency: float, address: str = "127.0.0.1", **kw: Any
) -> None:
    # [GIN] 2025/05/07 - 06:59:38 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"
    log.add(
        gin_clock(instant),
        side="server",
        kind="gin",
        reasonless=True,
        endpoint=endpoint,
        method="POST",
        address=address,
        latency=latency,
        ollama=True,
        **kw,
    )


def python_failure(log: Log, instant: datetime, category: str, reason: str) -> None:
    # 2025-05-07 09:00:05,412 INFO httpx: HTTP Request: POST http://ollama:11434/api/chat "HTTP/1.1 400 Bad Request"
    log.add(
        instant,
        skip=3,
        reasonless=True,
        endpoint="/api/chat",
        method="POST",
        client="httpx",
        ollama=True,
    )
    # 2025-05-07 09:00:05,415 ERROR bot: chat failed / Traceback ... /
    # ollama._types.ResponseError: <reason> (status code: 400)
    log.add(
        instant + timedelta(milliseconds=3),
        client="ollama-python",
        category=category,
        rule_id=f"{category}.python",
        reason=reason,
        ollama=True,
    )


TOOLS = "registry.ollama.ai/library/gemma2:2b does not support tools"
UNMARSHAL = "json: cannot unmarshal array into Go struct field ChatRequest.messages.content of type string"
BASE64 = "illegal base64 data at input byte 4"


def incident() -> pl.DataFrame:
    """A Python app behind nginx, a Node app and a JSON-lines worker, against one Ollama server
    whose GIN lines are in local time with no zone and whose clock is 2 h 00 m 03 s behind.

    Counted by hand: 15 failed requests in 33 records.
    - P1-P5: the Python app (httpx line + traceback each); P1-P4 pass nginx, P5 goes direct.
    - A1, A2: the app's own 400s (POST /login, Stripe), never Ollama's.
    - J1: the Node app (ollama-js, no URL in its record), direct.
    - W1: the worker (openai SDK); W2 and W3: two worker failures in one second (ambiguous).
    - four GIN 400s no client explains: two slow /api/embed, two fast /api/generate (one of
      them half a second before A2, which names no endpoint and is not Ollama's).
    """
    app, nginx, server = Log("app/api.log"), Log("nginx/access.log"), Log("ollama/server.log")
    node, worker = Log("web/node.log"), Log("worker/jobs.jsonl")
    python = [
        ("00:05.412", "unsupported_capability", TOOLS, True),
        ("03:17.088", "request_format", UNMARSHAL, True),
        ("07:41.930", "invalid_model_name", "invalid model name", True),
        ("12:02.501", "unsupported_capability", TOOLS, True),
        ("30:00.777", "context_or_options", "the input length exceeds the context length", False),
    ]
    for clock, category, reason, via_nginx in python:
        instant = at(clock)
        python_failure(app, instant, category, reason)
        # The response left Ollama 10 ms before the client logged it, and nginx 5 ms before.
        gin(
            server,
            instant - timedelta(milliseconds=10),
            "/api/chat",
            0.000213,
            "172.17.0.1" if via_nginx else "127.0.0.1",
        )
        if via_nginx:
            # 10.0.0.7 - - [07/May/2025:09:00:05 +0000] "POST /api/chat HTTP/1.1" 400 61 "-" "ollama-python/0.4.7 (...)"
            nginx.add(
                (instant - timedelta(milliseconds=5)).replace(microsecond=0),
                side="server",
                kind="proxy",
                reasonless=True,
                endpoint="/api/chat",
                method="POST",
                address="10.0.0.7",
                user_agent="ollama-python",
                ollama=True,
            )
    # 2025-05-07 09:05:00,000 INFO app: "POST /login HTTP/1.1" 400
    app.add(at("05:00.000"), skip=2, reasonless=True, endpoint="/login", method="POST")
    # 2025-05-07 09:06:00,000 ERROR billing: stripe returned status 400
    # (right after an unrelated GIN 400 that no client explains: they must not meet)
    app.add(at("06:00.000"), skip=2, reason="stripe returned status 400")
    gin(server, at("05:59.500"), "/api/generate", 0.000180)
    # 2025-05-07T09:09:30.250Z ResponseError: illegal base64 data at input byte 4
    node.add(
        at("09:30.250"),
        client="ollama-js",
        category="request_format",
        rule_id="request_format.base64",
        reason=BASE64,
        ollama=True,
    )
    gin(server, at("09:30.240"), "/api/chat", 0.000506)
    worker_failures = [
        (
            "15:12.700",
            "unsupported_capability",
            "registry.ollama.ai/library/llama3:8b does not support tools",
        ),
        ("18:00.100", "context_or_options", "the input length exceeds the context length"),
        ("18:00.600", "request_format", "invalid message format"),
    ]
    for clock, category, reason in worker_failures:
        # {"time":"2025-05-07T09:15:12.700Z","level":"error","msg":"openai.BadRequestError: Error code: 400 - ..."}
        worker.add(
            at(clock),
            skip=4,
            endpoint="/v1/chat/completions",
            client="openai",
            category=category,
            rule_id=f"{category}.openai",
            reason=reason,
            ollama=True,
        )
        gin(server, at(clock) - timedelta(milliseconds=10), "/v1/chat/completions", 0.00031)
    gin(server, at("20:10.000"), "/api/embed", 4.2)
    gin(server, at("20:40.000"), "/api/embed", 3.9)
    gin(server, at("25:00.000"), "/api/generate", 0.000180)
    # The server log is read in its own order: sort its records by time.
    server.rows.sort(key=lambda row: row["timestamp"])
    for number, row in enumerate(server.rows):
        row["record_no"] = row["line"] = number
    return frame(app, nginx, server, node, worker)


def records_by(joined, **where: Any) -> pl.DataFrame:
    return joined.records.filter(*[pl.col(name) == value for name, value in where.items()])


def test_incident_server_400s_take_the_cause_of_their_client_request() -> None:
    joined = join(incident())
    gins = records_by(joined, kind="gin").sort("corrected_timestamp")
    assert gins.select("endpoint", "attribution", "final_category").rows() == [
        ("/api/chat", "joined", "unsupported_capability"),  # P1
        ("/api/chat", "joined", "request_format"),  # P2
        ("/api/generate", "own", "unclassified"),  # next to the Stripe error, but not its
        ("/api/chat", "joined", "invalid_model_name"),  # P3
        ("/api/chat", "joined", "request_format"),  # J1, the Node app's base64 error
        ("/api/chat", "joined", "unsupported_capability"),  # P4
        ("/v1/chat/completions", "joined", "unsupported_capability"),  # W1
        ("/v1/chat/completions", "ambiguous", "unclassified"),  # W2 or W3: cannot tell
        ("/v1/chat/completions", "ambiguous", "unclassified"),
        ("/api/embed", "own", "unclassified"),
        ("/api/embed", "own", "unclassified"),
        ("/api/generate", "own", "unclassified"),
        ("/api/chat", "joined", "context_or_options"),  # P5
    ]
    # Each joined GIN line names the record it took its cause from: a client reason record.
    causes = gins.filter(pl.col("attribution") == "joined").join(
        joined.records.select(matched_key="key", cause_reason="reason", cause_side="side"),
        on="matched_key",
        maintain_order="left",
    )
    assert causes["cause_side"].to_list() == ["client"] * 7
    assert causes["cause_reason"].to_list() == [
        TOOLS,
        UNMARSHAL,
        "invalid model name",
        BASE64,
        TOOLS,
        "registry.ollama.ai/library/llama3:8b does not support tools",
        "the input length exceeds the context length",
    ]
    proxies = records_by(joined, kind="proxy").sort("key")
    assert proxies.select("attribution", "final_category").rows() == [
        ("joined", "unsupported_capability"),
        ("joined", "request_format"),
        ("joined", "invalid_model_name"),
        ("joined", "unsupported_capability"),
    ]
    # The httpx line of each Python failure takes the cause of the traceback after it.
    httpx = records_by(joined, file="app/api.log", client="httpx").sort("key")
    assert httpx["attribution"].to_list() == ["stitched"] * 5
    assert (httpx["matched_key"] == httpx["key"] + 1).all()


def test_incident_clock_offset_of_hours_is_found_and_applied() -> None:
    joined = join(incident())
    [offset] = joined.offsets
    assert offset.describe() == "ollama/server.log runs 2 h 00 m 03 s behind app/api.log, from 5 pairs"
    assert (offset.offset, offset.source) == (SERVER_BEHIND, "estimated")
    server = records_by(joined, file="ollama/server.log")
    shift = server.select((pl.col("corrected_timestamp") - pl.col("timestamp")).unique())
    assert shift.to_series().to_list() == [SERVER_BEHIND]
    client = records_by(joined, side="client")
    assert (client["corrected_timestamp"] == client["timestamp"]).all()


def test_incident_counts_each_failed_request_once() -> None:
    joined = join(incident())
    assert joined.records.height == 33
    requests = joined.requests
    assert requests.height == 15
    assert requests.group_by("sides").len().sort("sides").rows() == [
        ("both", 9),
        ("client", 2),
        ("server", 4),
    ]
    # P1-P4: httpx line, traceback, nginx line, GIN line; P5, J1, W1-W3: client + GIN.
    assert sorted(requests["records"].to_list()) == [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 4, 4, 4, 4]
    assert requests.group_by("category").len().sort("category").rows() == [
        ("context_or_options", 2),  # P5, W2
        ("invalid_model_name", 1),
        ("request_format", 3),  # P2, J1, W3
        ("unclassified", 6),  # the two app-own 400s, the four unmatched GIN lines
        ("unsupported_capability", 3),  # P1, P4, W1
    ]
    stats = joined.stats
    # Per Python failure: the httpx line stitched to its traceback.
    assert stats.stitched_records == 5
    # 4 nginx lines to GIN, then P1-P5, J1 and W1 to their server requests.
    assert stats.joined_pairs == 11
    assert stats.ambiguous_pairs == 2
    assert (stats.unmatched_server, stats.unmatched_client) == (4, 0)


def test_ambiguous_burst_counts_two_requests_and_hands_over_no_cause() -> None:
    joined = join(incident())
    burst = joined.requests.filter(pl.col("ambiguous"))
    # W2 and W3 each stay one request (client record + a GIN line of that second), keep their
    # own client cause, and neither GIN line is credited with one.
    assert burst.select("category", "sides", "records", "joined").rows() == [
        ("context_or_options", "both", 2, False),
        ("request_format", "both", 2, False),
    ]
    ambiguous = records_by(joined, attribution="ambiguous")
    assert ambiguous["kind"].to_list() == ["gin", "gin"]
    assert ambiguous["matched_key"].null_count() == 2


def test_app_own_400s_are_not_ollamas() -> None:
    requests = join(incident()).requests
    not_ollama = requests.filter(~pl.col("ollama")).sort("request_id")
    assert not_ollama.select("endpoint", "category", "sides").rows() == [
        ("/login", "unclassified", "client"),
        (None, "unclassified", "client"),
    ]
    assert requests.filter(pl.col("ollama")).height == 13


def test_unmatched_server_400s_get_hints_and_are_grouped_for_collection() -> None:
    joined = join(incident())
    rows = unmatched_server_requests(joined.requests)
    assert rows.select("endpoint", "address", "latency_class", "count").rows() == [
        ("/api/embed", "127.0.0.1", "slow", 2),
        ("/api/generate", "127.0.0.1", "fast", 2),
    ]
    assert rows["hint"][0].startswith("an embedding that failed after the model loaded")
    assert rows["hint"][1].startswith("rejected before any model work")
    assert rows.select("first_seen", "last_seen").rows() == [
        (at("20:10.000"), at("20:40.000")),
        (at("05:59.000"), at("25:00.000")),
    ]
    # Hints only where no client record explains the request.
    hinted = joined.requests.filter(pl.col("hint").is_not_null())
    assert hinted["sides"].to_list() == ["server"] * 4


def test_user_given_offset_overrides_the_estimate() -> None:
    given = JoinOptions(server_offsets={"ollama/server.log": SERVER_BEHIND})
    joined = join(incident(), given)
    [offset] = joined.offsets
    assert (offset.source, offset.offset, offset.reference_file) == ("given", SERVER_BEHIND, None)
    assert joined.stats.joined_pairs == 11
    # A wrong offset given by the user is used as given: nothing meets any more.
    wrong = join(incident(), JoinOptions(default_server_offset=timedelta(hours=1)))
    assert wrong.offsets[0].describe() == "ollama/server.log: clock offset +1 h 00 m 00 s as given"
    # Only the nginx lines still meet the Python failures: 11 client requests and 13 GIN lines.
    assert wrong.stats.joined_pairs == 4
    assert wrong.requests.height == 24


def test_pasted_file_holding_both_sides_joins_inside_itself() -> None:
    """An issue comment with the server's lines and the app's output pasted one after the other;
    the same clock (both from one machine), no other file to estimate an offset against."""
    pasted = Log("issue-1234.txt")
    for clock, category, reason in [
        ("00:05.412", "unsupported_capability", TOOLS),
        ("00:41.120", "request_format", UNMARSHAL),
    ]:
        instant = at(clock)
        # [GIN] 2025/05/07 - 09:00:05 | 400 | 213.546µs | 127.0.0.1 | POST "/api/chat"
        gin(pasted, instant + SERVER_BEHIND, "/api/chat", 0.0002)  # this server's clock is right
        # INFO:httpx:HTTP Request: POST http://127.0.0.1:11434/api/chat "HTTP/1.1 400 Bad Request"
        pasted.add(instant, reasonless=True, endpoint="/api/chat", method="POST", client="httpx", ollama=True)
        # ollama._types.ResponseError: ... (status code: 400)
        pasted.add(
            instant,
            skip=2,
            client="ollama-python",
            category=category,
            reason=reason,
            rule_id="r",
            ollama=True,
        )
    joined = join(frame(pasted))
    assert joined.offsets[0].source == "none"
    assert joined.records.select("kind", "request_id", "attribution", "final_category").rows() == [
        ("gin", 0, "joined", "unsupported_capability"),
        ("client", 0, "stitched", "unsupported_capability"),
        ("client", 0, "own", "unsupported_capability"),
        ("gin", 1, "joined", "request_format"),
        ("client", 1, "stitched", "request_format"),
        ("client", 1, "own", "request_format"),
    ]
    # The GIN line itself never stitches: it was joined, and names the traceback.
    assert joined.records["matched_key"].to_list() == [2, 2, 0, 5, 5, 3]
    assert joined.requests["sides"].to_list() == ["both", "both"]


def test_reraised_traceback_stays_one_request() -> None:
    app = Log("app/bot.log")
    # INFO httpx: HTTP Request: POST http://localhost:11434/api/chat "HTTP/1.1 400 Bad Request"
    app.add(at("00:01.000"), reasonless=True, endpoint="/api/chat", client="httpx", ollama=True)
    # ERROR bot: ollama._types.ResponseError: ... does not support tools (status code: 400)
    app.add(
        at("00:01.004"), client="ollama-python", category="unsupported_capability", reason=TOOLS, ollama=True
    )
    # ERROR root: unhandled ... Traceback ... the same ResponseError, raised again
    app.add(
        at("00:01.010"),
        skip=1,
        client="ollama-python",
        category="unsupported_capability",
        reason=TOOLS,
        ollama=True,
    )
    # A second request with the same error a second later: its httpx line marks it as new.
    app.add(at("00:02.000"), skip=2, reasonless=True, endpoint="/api/chat", client="httpx", ollama=True)
    app.add(
        at("00:02.004"), client="ollama-python", category="unsupported_capability", reason=TOOLS, ollama=True
    )
    # The same error again, but ten seconds later: a request of its own.
    app.add(
        at("00:12.000"), client="ollama-python", category="unsupported_capability", reason=TOOLS, ollama=True
    )
    joined = join(frame(app))
    assert joined.records.select("request_id", "attribution").rows() == [
        (0, "stitched"),
        (0, "own"),
        (0, "stitched"),
        (1, "stitched"),
        (1, "own"),
        (2, "own"),
    ]
    assert joined.requests["records"].to_list() == [3, 2, 1]
    assert joined.stats.stitched_records == 3


def test_proxy_access_line_written_after_the_handler_error_stitches_back() -> None:
    """Open WebUI: httpx's line to Ollama, the handler's error, then uvicorn's access line."""
    webui = Log("open-webui.log")
    # INFO  [httpx] HTTP Request: POST http://ollama:11434/api/chat "HTTP/1.1 400 Bad Request"
    webui.add(at("00:01.000"), reasonless=True, endpoint="/api/chat", client="httpx", ollama=True)
    # ERROR [open_webui.routers.ollama] 400, message='Bad Request' ... Ollama: illegal base64 data
    webui.add(at("00:01.002"), category="request_format", reason=BASE64, ollama=True)
    # INFO:     172.18.0.1:51234 - "POST /ollama/api/chat HTTP/1.1" 400 Bad Request
    webui.add(
        at("00:01.003"),
        side="server",
        kind="proxy",
        reasonless=True,
        endpoint="/api/chat",
        address="172.18.0.1",
        ollama=True,
    )
    # INFO:     172.18.0.1:51240 - "POST /api/v1/files/ HTTP/1.1" 400 Bad Request (Open WebUI's own)
    webui.add(at("00:09.000"), side="server", kind="proxy", reasonless=True, endpoint="/api/v1/files/")
    joined = join(frame(webui))
    assert joined.records.select("request_id", "attribution", "final_category").rows() == [
        (0, "stitched", "request_format"),
        (0, "own", "request_format"),
        (0, "stitched", "request_format"),
        (1, "own", "unclassified"),
    ]
    assert joined.requests.select("sides", "ollama", "hint").rows() == [
        ("both", True, None),
        ("server", False, joined.requests["hint"][1]),
    ]
    assert joined.requests["hint"][1].startswith("a proxy answered 400 and no Ollama access line matched")


def test_ollama_error_line_in_the_server_log_explains_its_gin_line() -> None:
    server = Log("ollama/server.log")
    # time=2025-05-07T09:00:01.512Z level=ERROR source=routes.go:2113 msg="chat template prompt error" error=...
    server.add(
        at("00:01.512"),
        side="server",
        kind="ollama",
        category="request_format",
        reason="chat template prompt error",
        rule_id="r",
        ollama=True,
    )
    gin(server, at("00:01.514") + SERVER_BEHIND, "/api/chat", 0.0011)
    joined = join(frame(server))
    assert joined.records.select(
        "kind", "request_id", "attribution", "final_category", "matched_key"
    ).rows() == [
        ("ollama", 0, "own", "request_format", 1),
        ("gin", 0, "joined", "request_format", 0),
    ]
    assert joined.requests.select("sides", "hint").rows() == [("server", None)]


def chat_error(log: Log, instant: datetime, category: str, reason: str) -> None:
    # ERROR app: ollama._types.ResponseError: <reason> (status code: 400), calling /api/chat
    log.add(instant, endpoint="/api/chat", client="ollama-python", category=category, reason=reason)


def test_two_client_errors_never_claim_one_gin_line() -> None:
    app, other, server = Log("app/a.log"), Log("app/b.log"), Log("ollama/server.log")
    chat_error(app, at("00:01.200"), "request_format", UNMARSHAL)
    chat_error(other, at("00:01.700"), "auth", "unauthorized")
    gin(server, at("00:01.100") + SERVER_BEHIND, "/api/chat", 0.0002)
    joined = join(frame(app, other, server))
    records = joined.records
    assert records.filter(pl.col("kind") == "gin").select(
        "attribution", "final_category", "matched_key"
    ).rows() == [("ambiguous", "unclassified", None)]
    # Two requests: the GIN line is counted with one of them, but gives and takes no cause.
    assert joined.requests.select("category", "sides", "ambiguous").rows() == [
        ("request_format", "both", True),
        ("auth", "client", True),
    ]
    assert joined.stats.ambiguous_pairs == 1
    assert joined.stats.joined_pairs == 0


def test_user_agent_that_disagrees_keeps_a_proxy_line_apart() -> None:
    app, nginx = Log("app/api.log"), Log("nginx/access.log")
    chat_error(app, at("00:01.200"), "request_format", UNMARSHAL)
    nginx.add(
        at("00:01.000"), side="server", kind="proxy", reasonless=True, endpoint="/api/chat", user_agent="curl"
    )
    joined = join(frame(app, nginx))
    assert joined.requests.height == 2
    nginx.rows[0]["user_agent"] = "python-httpx"
    assert join(frame(app, nginx)).requests.height == 1


def test_too_few_pairs_give_no_offset() -> None:
    app, server = Log("app/api.log"), Log("ollama/server.log")
    python_failure(app, at("00:05.412"), "unsupported_capability", TOOLS)
    gin(server, at("00:05.400"), "/api/chat", 0.0002)
    joined = join(frame(app, server))
    [offset] = joined.offsets
    assert (offset.source, offset.offset, offset.pairs) == ("none", timedelta(0), 0)
    assert offset.describe() == "ollama/server.log: too few unambiguous pairs (0) to estimate a clock offset"
    # Left on its own clock the GIN line is 2 h away from the client: nothing is joined.
    assert joined.requests["sides"].to_list() == ["client", "server"]


def test_bad_options_and_frames_are_reported() -> None:
    with pytest.raises(UsageError, match="the match window must be positive, not 0:00:00"):
        JoinOptions(match_window=timedelta(0))
    with pytest.raises(UsageError, match="stitch_records must be at least 1, not 0"):
        JoinOptions(stitch_records=0)
    with pytest.raises(RecordsFrameError, match="column 'reason' is missing"):
        join(incident().drop("reason"))
    with pytest.raises(RecordsFrameError, match="column 'key' has duplicate values"):
        join(incident().with_columns(key=pl.lit(1, pl.Int64)))


def test_empty_input_gives_empty_output() -> None:
    joined = join(pl.DataFrame(schema=SCHEMA))
    assert (joined.records.height, joined.requests.height, joined.offsets) == (0, 0, [])
    assert joined.requests.columns[-1] == "representative_key"


FILES = ["ollama/server.log", "app/api.log", "nginx/access.log", "paste.txt"]
ENDPOINTS = [None, "/api/chat", "/api/generate"]
KINDS = {"server": ["gin", "proxy", "ollama"], "client": ["client"]}


@st.composite
def any_records(draw: st.DrawFn) -> pl.DataFrame:
    count = draw(st.integers(min_value=0, max_value=40))
    rows = []
    for key in range(count):
        side = draw(st.sampled_from(["server", "client"]))
        kind = draw(st.sampled_from(KINDS[side]))
        seconds = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=30, allow_nan=False)))
        category = draw(st.sampled_from(["unclassified", "request_format", "auth"]))
        rows.append(
            {
                "key": key,
                "file": draw(st.sampled_from(FILES)),
                "record_no": draw(st.integers(min_value=0, max_value=60)),
                "line": key + 1,
                "timestamp": None if seconds is None else BASE + timedelta(seconds=seconds),
                "side": side,
                "kind": kind,
                "reasonless": draw(st.booleans()),
                "endpoint": draw(st.sampled_from(ENDPOINTS)),
                "client": draw(st.sampled_from([None, "ollama-python", "openai", "httpx"])),
                "user_agent": draw(st.sampled_from([None, "ollama-python", "curl"])),
                "latency": draw(st.sampled_from([None, 0.0002, 4.0])),
                "category": category,
                "rule_id": None if category == "unclassified" else category,
                "reason": draw(st.sampled_from([None, "x", "y"])),
                "ollama": draw(st.booleans()),
            }
        )
    # record_no is unique within a file
    seen: set[tuple[str, int]] = set()
    for row in rows:
        while (row["file"], row["record_no"]) in seen:
            row["record_no"] += 1
        seen.add((row["file"], row["record_no"]))
    return pl.DataFrame(rows, schema=SCHEMA)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_records())
def test_any_records_become_requests_that_add_up(records: pl.DataFrame) -> None:
    joined = join(records, JoinOptions(min_offset_pairs=1))
    out = joined.records
    assert sorted(out["key"].to_list()) == sorted(records["key"].to_list())
    assert out.drop(out.columns[len(records.columns) :]).sort("key").equals(records.sort("key"))
    requests = joined.requests
    # Dense ids, numbered in the order of each request's smallest key.
    assert requests["request_id"].to_list() == list(range(requests.height))
    firsts = out.group_by("request_id").agg(pl.col("key").min()).sort("request_id")["key"]
    assert firsts.is_sorted()
    assert int(requests["records"].sum() or 0) == records.height
    # A request holds one GIN line, or one and its copies in other files (a pasted log).
    gin_line = pl.struct("timestamp", "latency", "address", "endpoint", "method")
    gins_per_request = (
        out.filter(pl.col("kind") == "gin").group_by("request_id").agg(gin_line.n_unique())["timestamp"]
    )
    assert gins_per_request.max() is None or gins_per_request.max() <= 1
    # A record that takes a cause takes exactly the category of the record it names.
    taken = out.filter(pl.col("attribution").is_in(["stitched", "joined"])).join(
        out.select(matched_key="key", source_category="category"), on="matched_key"
    )
    assert (taken["final_category"] == taken["source_category"]).all()
    kept = out.filter(pl.col("attribution").is_in(["own", "ambiguous"]))
    assert (kept["final_category"] == kept["category"]).all()
    assert set(out["attribution"].to_list()) <= {"own", "stitched", "joined", "ambiguous"}
    stats = joined.stats
    assert stats.unmatched_server == requests.filter(pl.col("sides") == "server").height
    # Each stitch, link or ambiguous pairing makes two groups of records one.
    links = stats.stitched_records + stats.joined_pairs + stats.ambiguous_pairs
    assert requests.height == records.height - links
    assert (requests["hint"].is_not_null() <= (requests["sides"] == "server")).all()
    assert len(joined.offsets) == records.filter(pl.col("kind").is_in(["gin", "ollama"]))["file"].n_unique()


def outcome(joined) -> dict[tuple[str, int], tuple[frozenset[tuple[str, int]], str, str]]:
    """Per record (file, line): the records of its request, its attribution and final category."""
    records = joined.records
    members = records.group_by("request_id").agg(pl.struct("file", "line").alias("members"))
    rows = records.join(members, on="request_id").select(
        "file", "line", "members", "attribution", "final_category"
    )
    return {
        (file, line): (frozenset((m["file"], m["line"]) for m in group), attribution, final)
        for file, line, group, attribution, final in rows.iter_rows()
    }


def test_records_in_any_order_give_the_same_requests() -> None:
    forward = incident()
    backward = forward.with_columns(key=forward.height - 1 - pl.col("key")).reverse()
    expected = outcome(join(forward))
    assert outcome(join(backward)) == expected
    shuffled = forward.with_columns(key=(pl.col("key") * 7) % forward.height).sample(
        fraction=1.0, shuffle=True, seed=3
    )
    assert outcome(join(shuffled)) == expected


@pytest.mark.parametrize(
    ("endpoint", "latency", "latency_class", "hint"),
    [
        ("/api/chat", 0.000213, "fast", "rejected before any model work"),
        ("/api/chat", 0.35, "medium", "rejected without a long model load"),
        ("/api/chat", 12.5, "slow", "rejected after the model had to load"),
        ("/api/embed", 4.1, "slow", "an embedding that failed after the model loaded"),
        ("/api/embed", 0.0004, "fast", "rejected before any model work"),
        ("/api/pull", 0.002, "fast", "model management rejected"),
        ("/api/blobs/sha256:abc", 0.002, "fast", "model management rejected"),
        ("/v1/completions", 0.0009, "fast", "a /v1/completions request"),
        ("/api/chat", None, "unknown", "no latency shown"),
    ],
)
def test_unmatched_gin_line_gets_a_hint_from_its_latency_and_endpoint(
    endpoint: str, latency: float | None, latency_class: str, hint: str
) -> None:
    server = Log("ollama/server.log")
    gin(server, at("00:01.000"), endpoint, latency)  # type: ignore[arg-type]
    joined = join(frame(server))
    assert joined.requests.select("category", "sides").rows() == [("unclassified", "server")]
    assert joined.requests["hint"][0].startswith(hint)
    assert unmatched_server_requests(joined.requests).select("endpoint", "latency_class", "count").rows() == [
        (endpoint, latency_class, 1)
    ]


def test_zone_less_timestamps_are_taken_as_utc() -> None:
    records = incident()
    naive = records.with_columns(pl.col("timestamp").dt.replace_time_zone(None))
    assert outcome(join(naive)) == outcome(join(records))


@pytest.mark.parametrize("seed", range(5))
def test_unrelated_logs_give_no_offset(seed: int) -> None:
    """Sixty client errors and sixty GIN lines at unrelated times of one day: no offset clearly
    wins, so none is applied."""
    rng = random.Random(seed)
    app, server = Log("app/api.log"), Log("ollama/server.log")
    for seconds in sorted(rng.uniform(0, 86_400) for _ in range(60)):
        chat_error(app, BASE + timedelta(seconds=seconds), "request_format", UNMARSHAL)
    for seconds in sorted(rng.uniform(0, 86_400) for _ in range(60)):
        gin(server, BASE + timedelta(seconds=seconds), "/api/chat", 0.0002)
    joined = join(frame(app, server))
    assert joined.offsets[0].source == "none"
    assert joined.offsets[0].offset == timedelta(0)


@pytest.mark.parametrize(
    ("skip", "later", "body_endpoint", "timed", "stitched"),
    [
        (0, 0.002, None, True, True),  # the body right under its status line
        (4, 0.002, None, True, True),  # five records on: still "a few records on"
        (5, 0.002, None, True, False),  # six records on: too far
        (0, 2.5, None, True, False),  # 2.5 s later: past the stitch gap
        (0, 0.002, "/api/generate", True, False),  # the body names another endpoint
        (0, 0.002, "/api/chat", True, True),
        (1, 0.0, None, False, True),  # untimed records stitch on adjacency alone
    ],
)
def test_status_line_and_the_error_body_under_it(
    skip: int, later: float, body_endpoint: str | None, timed: bool, stitched: bool
) -> None:
    go = Log("agent/run.log")
    # HTTP/1.1 400 Bad Request   (a client printing the response head, as curl -D - does)
    go.add(at("00:01.000") if timed else None, reasonless=True, endpoint="/api/chat", ollama=True)
    # {"error":"json: cannot unmarshal array into Go struct field ChatRequest.messages.content of type string"}
    go.add(
        at("00:01.000") + timedelta(seconds=later) if timed else None,
        skip=skip,
        endpoint=body_endpoint,
        category="request_format",
        rule_id="request_format.unmarshal",
        reason=UNMARSHAL,
        ollama=True,
    )
    joined = join(frame(go))
    assert joined.requests.height == (1 if stitched else 2)
    expected = ("stitched", "request_format") if stitched else ("own", "unclassified")
    assert joined.records.select("attribution", "final_category").row(0) == expected


def test_one_client_error_between_two_gin_lines_credits_neither() -> None:
    app, server = Log("app/a.log"), Log("ollama/server.log")
    chat_error(app, at("00:01.700"), "request_format", UNMARSHAL)
    gin(server, at("00:01.100") + SERVER_BEHIND, "/api/chat", 0.0002)
    gin(server, at("00:01.600") + SERVER_BEHIND, "/api/chat", 0.0003)
    joined = join(frame(app, server))
    # Two requests: the client's, counted with one GIN line, and the other GIN line's; both
    # GIN lines had a rival, so neither takes the client's cause.
    assert joined.records.select("kind", "attribution", "final_category", "matched_key").rows() == [
        ("client", "own", "request_format", None),
        ("gin", "ambiguous", "unclassified", None),
        ("gin", "ambiguous", "unclassified", None),
    ]
    assert joined.requests.select("category", "sides", "ambiguous").rows() == [
        ("request_format", "both", True),
        ("unclassified", "server", True),
    ]
