import os
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from logscan import config
from logscan.cli import main, scan
from logscan.cli_common import config_keys
from logscan.state import read_history

RULE = """\
rules:
  - id: team.frobnicator
    category: server_misconfig
    match: {message: {contains: 'frobnicator queue rejected'}}
    examples:
      - line: 'ResponseError: frobnicator queue rejected the request (status code: 400)'
        category: server_misconfig
"""
LOG = """\
2025-06-01 12:00:03 ERROR ResponseError: frobnicator queue rejected the request (status code: 400)
2025-06-01 12:20:03 ERROR ResponseError: frobnicator queue rejected the request (status code: 400)
"""


OTHER_USER = 65534  # nobody


def load(explicit: Path | None = None) -> config.Config:
    """The config as `logscan scan` loads it: with the keys of logscan's options."""
    return config.load(explicit, keys=config_keys(click.Context(scan, parent=click.Context(main))))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.CONFIG_VARIABLE, raising=False)
    # The user's and the system's config files of this test, not of the machine.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(config, "SYSTEM_CONFIG", tmp_path / "etc" / "logscan" / "config.toml")
    (tmp_path / "team-rules").mkdir()
    (tmp_path / "team-rules" / "frob.yaml").write_text(RULE)
    (tmp_path / "app.log").write_text(LOG)
    return tmp_path


def test_no_config_file_is_an_empty_config(project: Path) -> None:
    assert load() == config.Config(None)


def test_logscan_toml_values_are_checked(project: Path) -> None:
    (project / "logscan.toml").write_text(
        'rules = ["team-rules"]\nno_builtin_rules = true\nwindow = "15m"\nassume-tz = "Europe/Berlin"\n'
        'format = "csv"\ntable-style = "github"\ntop = 3\n'
    )
    loaded = load()
    assert loaded.path == Path("logscan.toml")
    assert loaded.values == {
        "rules": (Path("team-rules"),),
        "no-builtin-rules": True,
        "window": "15m",
        "assume-tz": "Europe/Berlin",
        "format": "csv",
        "table-style": "github",
        "top": 3,
    }
    assert loaded.defaults_for({"rules": "rule_paths", "window": "window", "paths": "paths"}) == {
        "rule_paths": (Path("team-rules"),),
        "window": "15m",
    }


def test_rule_paths_are_relative_to_the_config_file(project: Path) -> None:
    (project / "conf").mkdir()
    (project / "conf" / "ci.toml").write_text('rules = "../team-rules"\n')
    assert load(Path("conf/ci.toml")).values == {"rules": (Path("conf") / "../team-rules",)}


def test_pyproject_table_is_used_and_logscan_toml_wins(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.logscan]\nwindow = "1d"\n')
    assert load().values == {"window": "1d"}
    (project / "logscan.toml").write_text('window = "5m"\n')
    assert load().values == {"window": "5m"}


def test_a_pyproject_without_the_table_is_not_a_config(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert load() == config.Config(None)


def test_every_problem_is_reported_with_its_line(project: Path) -> None:
    (project / "logscan.toml").write_text(
        'window = "1h"\ncolour = "red"\ntop = 0\nrules = ["team-rules", "missing"]\nno-builtin-rules = "yes"\n'
    )
    with pytest.raises(config.ConfigError) as raised:
        load()
    assert str(raised.value) == (
        "logscan.toml:2:1: unknown key 'colour' (keys are the long options of `logscan scan --help`"
        " without --, and paths)\n"
        "logscan.toml:3:1: 'top' is invalid: 0 is not in the range x>=1.\n"
        "logscan.toml:4:1: 'rules' is invalid: Path 'missing' does not exist.\n"
        "logscan.toml:5:1: 'no-builtin-rules' must be true or false"
    )


def test_positions_in_pyproject_are_searched_in_the_logscan_table(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.other]\ntop = 1\n\n[tool.logscan]\ntop = "many"\n')
    with pytest.raises(config.ConfigError) as raised:
        load()
    assert str(raised.value) == "pyproject.toml:5:1: 'top' must be an integer"


def test_invalid_toml_names_its_place(project: Path) -> None:
    (project / "logscan.toml").write_text('window = "1h"\ntop = \n')
    with pytest.raises(config.ConfigError) as raised:
        load()
    assert str(raised.value) == "logscan.toml:2:7: invalid TOML: Invalid value"


# --- through the CLI ------------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_scan_takes_its_defaults_from_the_config(project: Path) -> None:
    (project / "logscan.toml").write_text('rules = ["team-rules"]\nwindow = "15m"\nformat = "csv"\n')
    result = invoke("scan", "app.log")
    assert (result.exit_code, result.stdout) == (
        0,
        "window_start,window_end,category,ollama,requests,server_records,client_records\n"
        "2025-06-01T12:00:00Z,2025-06-01T12:15:00Z,server_misconfig,true,1,0,1\n"
        "2025-06-01T12:15:00Z,2025-06-01T12:30:00Z,server_misconfig,true,1,0,1\n",
    )


def test_the_command_line_wins_over_the_config(project: Path) -> None:
    (project / "logscan.toml").write_text('rules = ["team-rules"]\nwindow = "15m"\nformat = "csv"\n')
    result = invoke("scan", "app.log", "--window", "1h", "--no-builtin-rules")
    assert result.stdout == (
        "window_start,window_end,category,ollama,requests,server_records,client_records\n"
        "2025-06-01T12:00:00Z,2025-06-01T13:00:00Z,server_misconfig,true,2,0,2\n"
    )


def test_an_explicit_config_file_and_the_rules_commands(project: Path) -> None:
    (project / "ci.toml").write_text('rules = ["team-rules"]\nno-builtin-rules = true\n')
    result = invoke("rules", "list", "--config", "ci.toml")
    assert result.stdout.splitlines()[2].split() == [
        "team.frobnicator", "server_misconfig", "50", "medium", "polars", "team-rules/frob.yaml:2",
    ]  # fmt: skip
    assert (
        result.stdout.splitlines()[-1] == "1 rule, highest priority first; ties go to the rule loaded first."
    )


def test_a_broken_config_exits_2(project: Path) -> None:
    (project / "logscan.toml").write_text("top = 0\n")
    result = invoke("scan", "app.log")
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        "logscan: error: logscan.toml:1:1: 'top' is invalid: 0 is not in the range x>=1.\n",
    )


# --- who may configure a scan ---------------------------------------------------------------

SUPPRESS_ALL = """\
suppress:
  - match: {status: {equals: 400}}
    reason: planted by someone else
"""


@pytest.fixture
def planted(project: Path) -> Path:
    """A config in the current folder that points at rules suppressing every 400."""
    (project / "quiet.yaml").write_text(SUPPRESS_ALL)
    (project / "logscan.toml").write_text('rules = ["quiet.yaml"]\nformat = "csv"\n')
    return project / "logscan.toml"


HONEST_CSV = (
    "window_start,window_end,category,ollama,requests,server_records,client_records\n"
    "2025-06-01T12:00:00Z,2025-06-01T13:00:00Z,unclassified,true,2,0,2\n"
)


def test_a_config_of_another_user_in_the_current_folder_is_ignored_with_a_warning(planted: Path) -> None:
    os.chown(planted, OTHER_USER, OTHER_USER)
    assert load() == config.Config(
        None,
        ignored=f"ignoring logscan.toml: owned by uid {OTHER_USER}, neither you (uid {os.geteuid()}) nor"
        " root; pass --config logscan.toml or set LOGSCAN_CONFIG to read it anyway",
    )
    result = invoke("scan", "app.log", "-f", "csv")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        HONEST_CSV,
        f"logscan: warning: ignoring logscan.toml: owned by uid {OTHER_USER}, neither you"
        f" (uid {os.geteuid()}) nor root; pass --config logscan.toml or set LOGSCAN_CONFIG to read"
        " it anyway\n",
    )


@pytest.mark.parametrize("mode", [0o664, 0o646])
def test_a_config_others_may_write_is_ignored(planted: Path, mode: int) -> None:
    planted.chmod(mode)
    shown = "-rw-rw-r--" if mode == 0o664 else "-rw-r--rw-"
    assert load().ignored == (
        f"ignoring logscan.toml: others may write it (mode {shown}); pass --config logscan.toml or"
        " set LOGSCAN_CONFIG to read it anyway"
    )


def test_a_pyproject_of_another_user_is_ignored_too(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.logscan]\nwindow = "1d"\n')
    os.chown(project / "pyproject.toml", OTHER_USER, OTHER_USER)
    assert load().path is None
    assert load().ignored is not None and load().ignored.startswith("ignoring pyproject.toml:")


def test_a_symlink_another_user_planted_is_ignored(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "mine.toml"
    elsewhere.write_text('window = "5m"\n')
    (project / "logscan.toml").symlink_to(elsewhere)
    assert load().values == {"window": "5m"}  # my own link to my own file
    os.chown(project / "logscan.toml", OTHER_USER, OTHER_USER, follow_symlinks=False)
    assert load().ignored == (
        f"ignoring logscan.toml: a symbolic link owned by uid {OTHER_USER}, neither you"
        f" (uid {os.geteuid()}) nor root; pass --config logscan.toml or set LOGSCAN_CONFIG to read"
        " it anyway"
    )


def test_a_root_owned_config_is_read(planted: Path) -> None:
    os.chown(planted, 0, 0)
    assert load().values["format"] == "csv"


def test_a_config_named_on_purpose_is_read_whoever_owns_it(
    planted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.chown(planted, OTHER_USER, OTHER_USER)
    planted.chmod(0o666)
    assert load(Path("logscan.toml")).values["format"] == "csv"
    monkeypatch.setenv(config.CONFIG_VARIABLE, "logscan.toml")
    assert load().values["format"] == "csv"
    result = invoke("scan", "app.log")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "window_start,window_end,category,ollama,requests,server_records,client_records\n",
        "",
    )


def test_the_environment_variable_names_a_config_anywhere(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "conf").mkdir()
    (project / "conf" / "nightly.toml").write_text('window = "1d"\n')
    (project / "logscan.toml").write_text('window = "5m"\n')
    monkeypatch.setenv(config.CONFIG_VARIABLE, "conf/nightly.toml")
    assert load().values == {"window": "1d"}
    assert load(Path("logscan.toml")).values == {"window": "5m"}  # --config wins
    monkeypatch.setenv(config.CONFIG_VARIABLE, "conf/missing.toml")
    with pytest.raises(config.ConfigError) as raised:
        load()
    assert str(raised.value) == "conf/missing.toml: cannot read config file: No such file or directory"


# --- every option, and where cron finds the file ---------------------------------------------


NIGHTLY = """\
paths = ["app.log"]
rules = ["team-rules"]
since = "2025-06-01T14:00"
until = "2025-06-01 15:00"
window = "30m"
report-tz = "+02:00"
format = "csv"
output = "reports/windows.csv"
events = "reports/events.csv"
jobs = 1
quiet = true
fail-above = 1
"""


def test_every_scan_option_can_be_in_the_config(project: Path) -> None:
    (project / "conf").mkdir()
    (project / "conf" / "reports").mkdir()
    (project / "conf" / "app.log").write_text(LOG)
    (project / "conf" / "team-rules").symlink_to(project / "team-rules")
    (project / "conf" / "nightly.toml").write_text(NIGHTLY)
    result = invoke("scan", "--config", "conf/nightly.toml")
    # Two requests, more than --fail-above 1: the report is written, the run exits 1.
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        "logscan: threshold breached: 2 failed requests, above --fail-above 1\n",
    )
    # Paths are relative to the file's folder; the zone-less bounds are read at +02:00 (12:00 to
    # 13:00 UTC), which holds the two 400s (12:00:03 and 12:20:03 UTC).
    windows = (project / "conf" / "reports" / "windows.csv").read_text()
    assert windows == (
        "window_start,window_end,category,ollama,requests,server_records,client_records\n"
        "2025-06-01T14:00:00+02:00,2025-06-01T14:30:00+02:00,server_misconfig,true,2,0,2\n"
        "2025-06-01T14:30:00+02:00,2025-06-01T15:00:00+02:00,,true,0,0,0\n"
    )
    assert (project / "conf" / "reports" / "events.csv").read_text().startswith("file,line,end_line,")


def test_the_command_line_wins_over_every_key(project: Path) -> None:
    (project / "logscan.toml").write_text('format = "json"\nwindow = "1d"\nreport-tz = "Asia/Tokyo"\n')
    result = invoke("scan", "app.log", "-f", "csv", "--window", "1h", "--report-tz", "UTC")
    assert result.stdout == HONEST_CSV


def test_lists_in_the_config_are_repeated_options(project: Path) -> None:
    (project / "logscan.toml").write_text('fail-on = ["unclassified=1", "auth"]\nformat = "csv"\n')
    result = invoke("scan", "app.log")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        HONEST_CSV,
        "logscan: threshold breached: 2 unclassified requests, above --fail-on unclassified=1\n",
    )


def test_an_unknown_key_names_file_line_and_a_close_key(project: Path) -> None:
    (project / "logscan.toml").write_text('window = "1h"\n\nreport_tzz = "UTC"\n')
    result = invoke("scan", "app.log")
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        "logscan: error: logscan.toml:3:1: unknown key 'report_tzz'; did you mean 'report-tz'? (keys are"
        " the long options of `logscan scan --help` without --, and paths)\n",
    )


def test_a_value_the_option_refuses_names_its_place(project: Path) -> None:
    (project / "logscan.toml").write_text('format = "xml"\njobs = "four"\n')
    result = invoke("scan", "app.log")
    assert (result.exit_code, result.stderr) == (
        2,
        "logscan: error: logscan.toml:1:1: 'format' is invalid: 'xml' is not one of 'table', 'csv', 'json',"
        " 'markdown', 'html', 'ndjson', 'prom'.\nlogscan.toml:2:1: 'jobs' must be an integer\n",
    )


def user_file(project: Path, text: str) -> Path:
    path = project / "xdg" / "logscan" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def system_file(project: Path, text: str) -> Path:
    path = config.SYSTEM_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cron_from_home_finds_the_user_config(project: Path) -> None:
    user_file(project, 'format = "csv"\n')
    result = invoke("scan", "app.log")
    assert (result.exit_code, result.stdout, result.stderr) == (0, HONEST_CSV, "")


def test_without_xdg_config_home_the_user_config_is_under_home(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(project / "home"))
    (project / "home" / ".config" / "logscan").mkdir(parents=True)
    (project / "home" / ".config" / "logscan" / "config.toml").write_text('window = "1d"\n')
    assert load().path == project / "home" / ".config" / "logscan" / "config.toml"
    assert load().values == {"window": "1d"}


def test_the_system_config_comes_last(project: Path) -> None:
    system_file(project, 'window = "1d"\n')
    assert load().values == {"window": "1d"}
    user_file(project, 'window = "30m"\n')
    assert load().values == {"window": "30m"}
    (project / "logscan.toml").write_text('window = "5m"\n')
    assert load().values == {"window": "5m"}


def test_the_user_and_system_configs_have_the_ownership_checks_too(project: Path) -> None:
    system = system_file(project, 'window = "1d"\n')
    mine = user_file(project, 'rules = ["quiet.yaml"]\n')
    mine.chmod(0o666)
    loaded = load()
    assert (loaded.path, loaded.values) == (system, {"window": "1d"})
    assert loaded.ignored == (
        f"ignoring {mine}: others may write it (mode -rw-rw-rw-); pass --config {mine} or set"
        " LOGSCAN_CONFIG to read it anyway"
    )
    os.chown(system, OTHER_USER, OTHER_USER)
    assert load().path is None


def test_quiet_silences_the_warning_about_a_config_passed_over(planted: Path) -> None:
    os.chown(planted, OTHER_USER, OTHER_USER)
    result = invoke("scan", "app.log", "-f", "csv", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, HONEST_CSV, "")
    # quiet set by a config that is read silences it too.
    user_file(planted.parent, "quiet = true\n")
    result = invoke("scan", "app.log", "-f", "csv")
    assert (result.exit_code, result.stdout, result.stderr) == (0, HONEST_CSV, "")


def test_the_scan_keys_leave_the_rules_commands_alone(project: Path) -> None:
    (project / "logscan.toml").write_text('paths = ["app.log"]\nsince = "yesterday"\nformat = "csv"\n')
    listed = invoke("rules", "list")
    assert (listed.exit_code, listed.stderr) == (0, "")
    # Its PATHS are rule files (all loaded rules without): the scan's inputs are not taken.
    tested = invoke("rules", "test")
    (project / "logscan.toml").unlink()
    assert (tested.exit_code, tested.stdout) == (0, invoke("rules", "test").stdout)
    assert tested.stdout.endswith(" examples of 65 rules passed\n")


def test_a_nightly_state_and_fail_on_new_category_come_from_the_config(project: Path) -> None:
    (project / "conf" / "logs").mkdir(parents=True)
    log = project / "conf" / "logs" / "app.log"
    log.write_text(LOG.splitlines(keepends=True)[0])
    (project / "conf" / "nightly.toml").write_text(
        'paths = ["logs"]\nstate = "nightly.db"\nfail-on-new-category = true\nformat = "csv"\n'
    )

    def night() -> Result:
        an_hour_ago = time.time() - 3600  # written long ago: no record waits for a partner
        os.utime(log, (an_hour_ago, an_hour_ago))
        return invoke("scan", "--config", "conf/nightly.toml")

    first = night()
    assert (first.exit_code, first.stderr) == (0, "")  # a first run has nothing to compare with
    with log.open("a") as out:
        out.write(
            "2025-06-02 12:00:03 ERROR ResponseError: registry.ollama.ai/library/gemma:2b does not"
            " support tools (status code: 400)\n"
        )
    second = night()
    assert (second.exit_code, second.stderr) == (
        1,
        "logscan: threshold breached: 1 unsupported_capability requests, a category no stored run"
        " had (--fail-on-new-category)\n",
    )
    # The state is the config's, beside it; each run counted its own new line.
    assert not (project / "nightly.db").exists()
    history = read_history(project / "conf" / "nightly.db")
    assert [dict(run.requests) for run in history] == [{"unsupported_capability": 1}, {"unclassified": 1}]
