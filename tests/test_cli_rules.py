"""The `logscan rules` commands and the rule-related scan options, through the CLI with exact
output. Each test runs in its own folder so that paths print relative."""

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from golden_cases import REPRODUCIBLE_EPOCH
from logscan import __version__, rules
from logscan.cli import main


@pytest.fixture(autouse=True)
def reproducible_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports stamped with SOURCE_DATE_EPOCH (and no duration), so that they compare exactly."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", REPRODUCIBLE_EPOCH)


MINE = """\
categories:
  - id: quota
    title: Tenant quota
    explanation: The gateway refused a tenant over its quota.
    remediation: Raise the tenant's quota in the gateway.
    steps:
      - Check the tenant's usage in the gateway console.
rules:
  - id: acme.quota
    title: Tenant over quota
    category: quota
    priority: 60
    severity: low
    match:
      any:
        - message: {contains: TENANT_QUOTA}
        - message: {regex: '(?i)tenant \\S+ over quota'}
    remediation: Ask the tenant to wait for the next hour.
    examples:
      - line: 'ERROR chat failed: HTTP 400 {"code":"TENANT_QUOTA"}'
        category: quota
      - line: 'ERROR chat failed: HTTP 429 {"code":"TENANT_QUOTA"}'
        category: none
  - id: acme.lookaround
    category: quota
    match: {message: {regex: '(?<!no )quota left: 0'}}
    examples:
      - line: 'ERROR quota left: 0 (status code: 400)'
        category: quota
"""

APP_LOG = """\
2025-06-01 12:00:03 ERROR Ollama chat failed: HTTP 400 {"code":"TENANT_QUOTA"}
2025-06-01 12:10:03 ERROR Ollama chat failed: HTTP 400 {"code":"TENANT_QUOTA"}
2025-06-01 12:20:03 ERROR Ollama chat failed: HTTP 400 {"code":"BAD_WIDGET"}
"""


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text(MINE)
    (tmp_path / "app.log").write_text(APP_LOG)
    return tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_list_shows_engine_and_source() -> None:
    result = invoke("rules", "list", "--no-builtin-rules", "--rules", "mine.yaml")
    assert (result.exit_code, result.stdout) == (
        0,
        """\
rule             category      priority  severity    engine    source
---------------  ----------  ----------  ----------  --------  ------------
acme.quota       quota               60  low         polars    mine.yaml:9
acme.lookaround  quota               50  medium      regex     mine.yaml:24

2 rules, highest priority first; ties go to the rule loaded first.
""",
    )


def test_list_names_builtin_files() -> None:
    lines = invoke("rules", "list").stdout.splitlines()
    *columns, source = lines[2].split()
    assert columns == ["ollama.remote.not_allowed", "server_misconfig", "90", "high", "polars"]
    assert source.startswith("builtin:ollama.yaml:")
    assert (
        lines[-1]
        == f"{len(rules.load().rules)} rules, highest priority first; ties go to the rule loaded first."
    )


def test_check_passes_and_prints_engines() -> None:
    result = invoke("rules", "check", "mine.yaml")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        """\
rule             category    engine    examples    source
---------------  ----------  --------  ----------  ------------
acme.quota       quota       polars    2 ok        mine.yaml:9
acme.lookaround  quota       regex     1 ok        mine.yaml:24
ok: 2 rules, 3 examples
""",
        "",
    )


def test_check_fails_on_an_example_that_does_not_get_its_category(in_tmp: Path) -> None:
    (in_tmp / "wrong.yaml").write_text(
        MINE.replace("category: none", "category: quota").replace("(?<!no )quota left", "rate left")
    )
    result = invoke("rules", "check", "wrong.yaml")
    assert result.exit_code == 2
    assert result.stdout.splitlines()[2:4] == [
        "acme.quota       quota       polars    1 of 2 FAILED  wrong.yaml:9",
        "acme.lookaround  quota       polars    1 of 1 FAILED  wrong.yaml:24",
    ]
    assert result.stderr == (
        "logscan: error: wrong.yaml:22:9: example of acme.quota expects quota, got no 400"
        " (the line shows no 400, and no implies_400 rule matched it)\n"
        "wrong.yaml:28:9: example of acme.lookaround expects quota, got unclassified (no rule matched)\n"
    )


def test_check_reports_every_load_problem_of_a_broken_file(in_tmp: Path) -> None:
    (in_tmp / "broken.yaml").write_text(
        "rules:\n"
        "  - id: a\n"
        "    category: nope\n"
        "    match: {message: {regex: 'x('}}\n"
        "  - id: b\n"
        "    category: quota\n"
        "    match: {}\n"
    )
    result = invoke("rules", "check", "mine.yaml", "broken.yaml")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "logscan: error: broken.yaml:3:15: unknown category 'nope'\n"
        "broken.yaml:4:33: regex does not compile: missing )\n"
        "broken.yaml:7:12: 'match' has no conditions\n"
    )


def test_check_notes_rules_without_a_positive_example_or_a_literal(in_tmp: Path) -> None:
    (in_tmp / "thin.yaml").write_text(
        "rules:\n  - id: thin\n    category: auth\n    match: {message: {regex: '(a|b)c'}}\n"
    )
    result = invoke("rules", "check", "thin.yaml")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2:] == [
        "thin    auth        polars    0 ok        thin.yaml:2",
        "thin.yaml:2: note: thin has no example that gets its category",
        "thin.yaml:4: note: thin: no literal of 3+ characters in message regex '(a|b)c'; it only sees"
        " lines that show a status or another rule's text",
        "ok: 1 rule, 0 examples",
    ]


def test_check_notes_patterns_that_look_catastrophic_for_the_regex_engine(in_tmp: Path) -> None:
    (in_tmp / "slow.yaml").write_text(
        """\
rules:
  - id: nested
    category: auth
    match: {message: {regex: '(?<=token )(\\w+\\s?)+expired'}}
    examples: [{line: 'token abc expired (status code: 400)', category: auth}]
  - id: overlapping
    category: auth
    match:
      all:
        - message: {contains: 'quota'}
        - message: {regex: 'quota (?:x|xy)*(?!z)'}
    examples: [{line: 'quota xy (status code: 400)', category: auth}]
  - id: linear
    category: auth
    match: {message: {regex: 'limit (a+)+ reached'}}
    examples: [{line: 'limit aa reached (status code: 400)', category: auth}]
"""
    )
    result = invoke("rules", "check", "--no-builtin-rules", "slow.yaml")
    assert (result.exit_code, result.stdout.splitlines()[5:]) == (
        0,
        [
            "slow.yaml:4:30: note: nested: message regex '(?<=token )(\\w+\\s?)+expired' looks catastrophic"
            " for the regex engine (a quantified group whose body is only quantified, as in (a+)+);"
            " each search is stopped after 0.25 s and counts as no match",
            "slow.yaml:11:28: note: overlapping: message regex 'quota (?:x|xy)*(?!z)' looks catastrophic"
            " for the regex engine (alternatives that can match the same text under a quantifier, as in"
            " (a|a)+); each search is stopped after 0.25 s and counts as no match",
            "ok: 3 rules, 3 examples",
        ],
    )


def test_test_prints_each_failure_as_a_diff(in_tmp: Path) -> None:
    (in_tmp / "wrong.yaml").write_text(MINE.replace("HTTP 429", "HTTP 400").replace("left: 0 (", "left: 0 ("))
    result = invoke("rules", "test", "wrong.yaml")
    assert (result.exit_code, result.stdout) == (
        2,
        """\
FAIL acme.quota example 2 (wrong.yaml:22:9)
  line: ERROR chat failed: HTTP 400 {"code":"TENANT_QUOTA"}
  --- expected
  +++ got
  -400s: 0
  +400s: 1
  -category: none
  +category: quota (rule acme.quota)

1 of 3 examples failed (2 rules)
""",
    )


def test_test_passes_over_every_builtin_example() -> None:
    builtin = rules.load()
    examples = sum(len(rule.examples) for rule in builtin.rules)
    result = invoke("rules", "test")
    assert (result.exit_code, result.stdout) == (
        0,
        f"ok: {examples} examples of {len(builtin.rules)} rules passed\n",
    )


def test_explain_a_rule_and_a_category() -> None:
    rule = invoke("rules", "explain", "acme.quota", "--rules", "mine.yaml")
    assert (rule.exit_code, rule.stdout) == (
        0,
        """\
acme.quota: Tenant over quota
  category:    quota (Tenant quota)
  priority:    60
  severity:    low
  engine:      polars
  implies_400: no
  source:      mine.yaml:9
  match:
    any of:
      message contains 'TENANT_QUOTA'
      message regex '(?i)tenant \\S+ over quota'
  remediation:
    Ask the tenant to wait for the next hour.
  examples:
    quota:
      ERROR chat failed: HTTP 400 {"code":"TENANT_QUOTA"}
    none:
      ERROR chat failed: HTTP 429 {"code":"TENANT_QUOTA"}

Category quota: Tenant quota
  The gateway refused a tenant over its quota.
  What to do:
    Raise the tenant's quota in the gateway.
    - Check the tenant's usage in the gateway console.
""",
    )
    category = invoke("rules", "explain", "quota", "--rules", "mine.yaml", "--no-builtin-rules")
    assert (category.exit_code, category.stdout) == (
        0,
        """\
quota: Tenant quota
  The gateway refused a tenant over its quota.
  What to do:
    Raise the tenant's quota in the gateway.
    - Check the tenant's usage in the gateway console.

Rules (2, highest priority first):
  acme.quota       60  Tenant over quota
  acme.lookaround  50  acme.lookaround

Examples:
  ERROR chat failed: HTTP 400 {"code":"TENANT_QUOTA"}
  ERROR quota left: 0 (status code: 400)
""",
    )


def test_explain_a_builtin_category_gives_its_steps() -> None:
    result = invoke("rules", "explain", "unsupported_capability")
    assert result.exit_code == 0
    assert "    - Run `ollama show MODEL`: the Capabilities list says whether it supports tools, insert," in (
        result.stdout
    )
    lines = result.stdout.splitlines()
    start = lines.index("Rules (9, highest priority first):")
    assert lines[start + 1 : start + 3] == [
        "  ollama.capability.tools             80  Model does not support tools",
        "  ollama.capability.thinking          80  Model does not support thinking (or this think level)",
    ]


def test_explain_an_unknown_name_exits_2_with_a_suggestion() -> None:
    result = invoke("rules", "explain", "ollama.capability.tool")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "logscan: error: 'ollama.capability.tool' is neither a rule id nor a category id; did you mean"
        " ollama.capability.tools or ollama.capability.other or ollama.capability.insert?\n"
    )


# --- scan options --------------------------------------------------------------------------


def test_scan_with_coverage_and_explain() -> None:
    result = invoke(
        "scan", "app.log", "--rules", "mine.yaml", "--no-builtin-rules", "--coverage", "--explain",
        "--table-style", "plain",
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")
    assert (
        result.stdout
        == """\
logscan: 3 requests failed with HTTP 400, seen in 3 records (0 server, 3 client); 1 file, 3 lines read; times in UTC, window 1h
Run: 2026-01-01T00:00:00Z by logscan <version>; bounds: none (every 400 found); inputs: app.log

Causes (failed requests; the records each left in server and client logs)
cause         category        requests    share    server records    client records           first seen            last seen
Tenant quota  quota                  2    66.7%                 0                 2  2025-06-01 12:00:03  2025-06-01 12:10:03
Unclassified  unclassified           1    33.3%                 0                 1  2025-06-01 12:20:03  2025-06-01 12:20:03
Total                                3   100.0%                 0                 3

What to do
  quota: Raise the tenant's quota in the gateway.
  unclassified: Log the response body (`{"error": ...}`) in the client, or set OLLAMA_DEBUG_LOG_REQUESTS=1 (v0.19.0+) to capture rejected requests, then scan again.

Explanations
quota: Tenant quota
  The gateway refused a tenant over its quota.
  What to do:
    Raise the tenant's quota in the gateway.
    - Check the tenant's usage in the gateway console.
  Rules that fired: acme.quota (2)
    acme.quota: Tenant over quota
      Fix: Ask the tenant to wait for the next hour.

unclassified: Unclassified
  A 400 that no rule explains, for example an Ollama access line with no client-side record, or an
  application wrapper that drops Ollama's `{"error": ...}` body. Always counted, never dropped.
  What to do:
    Log the response body (`{"error": ...}`) in the client, or set OLLAMA_DEBUG_LOG_REQUESTS=1
    (v0.19.0+) to capture rejected requests, then scan again.
    - Log the response body (`{"error": ...}`) in the client next to the status code.
    - Set OLLAMA_DEBUG_LOG_REQUESTS=1 (v0.19.0+) on the server to capture the bodies of rejected
      requests.
    - Scan the application logs of the same time as the server's access lines: the reason is there.
    - Run `logscan rules suggest PATH...` to draft rules for recurring unexplained messages.

Examples per cause (the first requests of each, by the record that carries the reason)
category      time                 at         side    record
quota         2025-06-01 12:00:03  app.log:1  client  2025-06-01 12:00:03 ERROR Ollama chat failed: HTTP 400 {"code":"TENANT_QUOTA"}
quota         2025-06-01 12:10:03  app.log:2  client  2025-06-01 12:10:03 ERROR Ollama chat failed: HTTP 400 {"code":"TENANT_QUOTA"}
unclassified  2025-06-01 12:20:03  app.log:3  client  2025-06-01 12:20:03 ERROR Ollama chat failed: HTTP 400 {"code":"BAD_WIDGET"}

Failed requests per 1h window
window start        quota    unclassified    total
2025-06-01 12:00        2               1        3

Unclassified requests by message (1 group; `logscan rules suggest PATH...` drafts rules for the client-side ones)
  1 client, 2025-06-01 12:20:03 .. 2025-06-01 12:20:03
    <time> ERROR Ollama chat failed: HTTP 400 {"code":"BAD_WIDGET"}
    e.g. app.log:3: 2025-06-01 12:20:03 ERROR Ollama chat failed: HTTP 400 {"code":"BAD_WIDGET"}

Rule coverage: 1 of 2 rules fired on this input
rule        category      requests
acme.quota  quota                2
Never fired (1):
  acme.lookaround

Input
file     format          compressed      lines    records    400s  problem
app.log  python-logging                      3          3       3

Notes
- Explained by a rule: 2 of 3 requests (66.7%; 2 rules loaded, 1 fired). Unclassified: 1.
""".replace("<version>", __version__)
    )


def test_coverage_and_explain_only_shape_the_table() -> None:
    result = invoke("scan", "app.log", "--coverage", "-f", "csv")
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: --coverage and --explain add sections to the table report;"
        " -f json always includes coverage and explanations\n",
    )


def test_json_has_coverage_clusters_and_suppressed(in_tmp: Path) -> None:
    (in_tmp / "quiet.yaml").write_text(
        "suppress:\n  - rule: acme.quota\n    reason: known tenant\n"
        "  - id: widgets\n    match: {message: {contains: BAD_WIDGET}}\n"
    )
    result = invoke("scan", "app.log", "--rules", "mine.yaml", "--rules", "quiet.yaml", "-f", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["requests"], report["classified"]) == (0, 0)
    assert report["suppressed"] == {
        "total": 3,
        "entries": [
            {"suppressed_by": "rule:acme.quota", "rule_id": "acme.quota", "category": "quota", "count": 2},
            {"suppressed_by": "widgets", "rule_id": None, "category": "unclassified", "count": 1},
        ],
    }
    assert report["coverage"]["rules_loaded"] == len(rules.load().rules) + 2
    assert report["coverage"]["rules_fired"] == 0
    assert report["clusters"] == {"unclustered": 0, "groups": []}


def test_suppressed_occurrences_have_their_own_table_section(in_tmp: Path) -> None:
    (in_tmp / "quiet.yaml").write_text("suppress:\n  - rule: acme.quota\n")
    result = invoke(
        "scan", "app.log", "--rules", "mine.yaml", "--rules", "quiet.yaml", "--no-builtin-rules",
        "--table-style", "plain",
    )  # fmt: skip
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "logscan: 1 request failed with HTTP 400, seen in 1 record (0 server, 1 client); 1 file, 3 lines read;"
        " times in UTC, window 1h"
    )
    start = lines.index("Suppressed (in none of the counts above)")
    assert lines[start : start + 3] == [
        "Suppressed (in none of the counts above)",
        "suppressed by    rule        category      records",
        "rule:acme.quota  acme.quota  quota               2",
    ]
    assert (
        "- 2 400 records suppressed by rule files: counted under 'Suppressed', in none of the totals."
        in lines
    )


def test_scan_checks_the_examples_of_user_rules(in_tmp: Path) -> None:
    (in_tmp / "wrong.yaml").write_text(MINE.replace("HTTP 429", "HTTP 400"))
    result = invoke("scan", "app.log", "--rules", "wrong.yaml")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "logscan: error: wrong.yaml:22:9: example of acme.quota expects no 400, got quota (rule acme.quota)\n"
    )


def test_a_catastrophic_user_pattern_is_reported_and_the_scan_finishes(in_tmp: Path) -> None:
    (in_tmp / "slow.yaml").write_text(
        "rules:\n"
        "  - id: slow\n"
        "    category: request_format\n"
        "    match:\n"
        "      all:\n"
        "        - message: {contains: 'status code'}\n"
        "        - message: {regex: '(a|a)+(?=b)\\1'}\n"
        "    examples:\n"
        "      - line: 'status code: 400 ab'\n"
        "        category: unclassified\n"
    )
    (in_tmp / "long.log").write_text(("ERROR status code: 400 " + "a" * 80 + "\n") * 20)
    started = time.perf_counter()
    result = invoke("scan", "long.log", "--rules", "slow.yaml", "-f", "csv")
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"the scan must not hang on a catastrophic pattern ({elapsed:.1f} s)"
    assert (result.exit_code, result.stdout) == (
        0,
        "window_start,window_end,category,ollama,requests,server_records,client_records\n,,unclassified,false,20,0,20\n",
    )
    assert result.stderr == (
        "logscan: warning: rule slow: pattern at slow.yaml:7:28 timed out on 3 records (0.25 s each)"
        " and was skipped on 17 more; those records count as not matching it\n"
    )


# --- rules suggest: the round trip ----------------------------------------------------------

UNKNOWN_400S = """\
2025-06-01 12:00:03,101 ERROR embed failed: ResponseError: frobnicator queue rejected request 8812 (status code: 400)
2025-06-01 12:00:09,222 INFO request ok
2025-06-01 12:05:13,930 ERROR embed failed: ResponseError: frobnicator queue rejected request 9001 (status code: 400)
2025-06-01 12:07:44,001 WARNING chat failed: ResponseError: widget "blue-7" is not in the catalogue (status code: 400)
2025-06-01 12:09:01,555 WARNING chat failed: ResponseError: widget "red" is not in the catalogue (status code: 400)
2025-06-01 12:10:00,000 ERROR Ollama chat failed: HTTP 400 {"error":"sprocket alignment lost"}
"""

SUGGESTED = r"""# Rule stubs for HTTP 400s that no loaded rule explains, drafted by `logscan rules suggest`:
# one stub per group of similar messages. For each stub, check the category (a guess from the
# words of the message), give it a better id and title, and widen or narrow the pattern; add
# an example that must not match (`category: none`) where the pattern could over-match.
# `logscan rules check FILE` validates the file and runs its examples; then use it with
# `logscan scan --rules FILE ...`. The schema is described in rules/README.md.
rules:

  # 2 unclassified 400s, 2025-06-01 12:00:03 .. 2025-06-01 12:05:13
  # template: <time> ERROR embed failed: ResponseError: frobnicator queue rejected request <num> (status code: 400)
  - id: local.embed-failed-responseerror-frobnicator-queue
    title: 'embed failed: ResponseError: frobnicator queue rejected request … (stat…'
    category: unclassified    # the message names no cause: choose one of request_format, invalid_model_name, unsupported_capability, context_or_options, rate_limit, auth, server_misconfig
    priority: 60
    severity: medium
    match:
      all:
        - message: {regex: 'embed\s+failed:\s+ResponseError:\s+frobnicator\s+queue\s+rejected\s+request\s+.*?\s+\(status\s+code:\s+400\)'}
    examples:
      - line: '2025-06-01 12:00:03,101 ERROR embed failed: ResponseError: frobnicator queue rejected request 8812 (status code: 400)'
        category: unclassified

  # 2 unclassified 400s, 2025-06-01 12:07:44 .. 2025-06-01 12:09:01
  # template: <time> WARNING chat failed: ResponseError: widget <*> is not in the catalogue (status code: 400)
  - id: local.chat-failed-responseerror-widget-is
    title: 'chat failed: ResponseError: widget … is not in the catalogue (status co…'
    category: unclassified    # the message names no cause: choose one of request_format, invalid_model_name, unsupported_capability, context_or_options, rate_limit, auth, server_misconfig
    priority: 60
    severity: medium
    match:
      all:
        - message: {regex: 'chat\s+failed:\s+ResponseError:\s+widget\s+\S+\s+is\s+not\s+in\s+the\s+catalogue\s+\(status\s+code:\s+400\)'}
    examples:
      - line: '2025-06-01 12:07:44,001 WARNING chat failed: ResponseError: widget "blue-7" is not in the catalogue (status code: 400)'
        category: unclassified

  # 1 unclassified 400, 2025-06-01 12:10:00 .. 2025-06-01 12:10:00
  # template: <time> ERROR Ollama chat failed: HTTP 400 {"error":"sprocket alignment lost"}
  - id: local.ollama-chat-failed-sprocket-alignment
    title: 'Ollama chat failed: HTTP 400 {"error":"sprocket alignment lost"}'
    category: unclassified    # the message names no cause: choose one of request_format, invalid_model_name, unsupported_capability, context_or_options, rate_limit, auth, server_misconfig
    priority: 60
    severity: medium
    match:
      all:
        - message: {regex: 'Ollama\s+chat\s+failed:\s+HTTP\s+400\s+\{"error":"sprocket\s+alignment\s+lost"\}'}
    examples:
      - line: '2025-06-01 12:10:00,000 ERROR Ollama chat failed: HTTP 400 {"error":"sprocket alignment lost"}'
        category: unclassified
"""


def test_suggest_drafts_rules_that_check_and_then_classify_those_400s(in_tmp: Path) -> None:
    (in_tmp / "unknown.log").write_text(UNKNOWN_400S)
    before = json.loads(invoke("scan", "unknown.log", "-f", "json").stdout)
    assert (before["requests"], before["classified"]) == (5, 0)
    assert [g["count"] for g in before["clusters"]["groups"]] == [2, 2, 1]

    suggested = invoke("rules", "suggest", "unknown.log")
    assert (suggested.exit_code, suggested.stdout) == (0, SUGGESTED)
    assert suggested.stderr == "logscan: 3 stub rule(s) for 5 unclassified 400(s)\n"

    (in_tmp / "suggested.yaml").write_text(suggested.stdout)
    check = invoke("rules", "check", "suggested.yaml")
    assert (check.exit_code, check.stderr, check.stdout.splitlines()[-1]) == (
        0,
        "",
        "ok: 3 rules, 3 examples",
    )

    # The stubs match their 400s; the messages name no cause, so until the user chooses one
    # they stay unclassified instead of taking a guessed one.
    after = json.loads(invoke("scan", "unknown.log", "--rules", "suggested.yaml", "-f", "json").stdout)
    assert (after["requests"], after["classified"]) == (5, 0)
    assert {hit["rule_id"]: hit["requests"] for hit in after["rule_hits"]} == {
        "local.embed-failed-responseerror-frobnicator-queue": 2,
        "local.chat-failed-responseerror-widget-is": 2,
        "local.ollama-chat-failed-sprocket-alignment": 1,
    }
    chosen = suggested.stdout.replace("category: unclassified", "category: server_misconfig")
    (in_tmp / "suggested.yaml").write_text(chosen)
    after = json.loads(invoke("scan", "unknown.log", "--rules", "suggested.yaml", "-f", "json").stdout)
    assert (after["requests"], after["classified"], after["clusters"]["groups"]) == (5, 5, [])


def test_suggest_leaves_server_access_lines_out_with_the_reason(in_tmp: Path) -> None:
    (in_tmp / "server.log").write_text(
        '[GIN] 2025/06/01 - 12:11:00 | 400 |     213.546µs |       127.0.0.1 | POST     "/api/chat"\n'
    )
    result = invoke("rules", "suggest", "server.log")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[6:] == [
        "#",
        "# No stub for 1 400 like:",
        '#   [GIN] <time> | 400 | <num>µs | <ip> | POST "<path>"',
        "#   server-side lines: an access line carries no reason, so a rule could only guess;"
        " scan the application logs of the same time",
        "rules: []",
    ]
    (in_tmp / "empty.yaml").write_text(result.stdout)
    assert invoke("rules", "check", "empty.yaml").exit_code == 0


def test_a_drafted_stub_that_does_not_load_is_dropped_alone() -> None:
    from dataclasses import replace  # noqa: PLC0415

    from logscan import cluster, ruletools  # noqa: PLC0415

    def group(text: str) -> cluster.Cluster:
        return cluster.Cluster(
            text, 1, None, None, "client", [cluster.ClusterExample("a", 1, f"{text} (status code: 400)")]
        )

    stubs, _ = cluster.stubs_for(
        [group("alpha queue jammed"), group("beta queue jammed")], rules.load().categories, set()
    )
    broken = replace(stubs[1], text=stubs[1].text.replace("{regex: 'beta", "{regex: '(beta"))
    assert ruletools._failing_stubs([stubs[0], broken], [], include_builtin=True) == {
        "local.beta-queue-jammed": "regex does not compile: missing )"
    }
