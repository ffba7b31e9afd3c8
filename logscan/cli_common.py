"""What every command of the command line shares: messages on stderr (errors, warnings and
notices, shown inert; -q silences all but errors), the config option, table styles, and what a
report says about its run."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from logscan import sanitize
from logscan.errors import LogscanError, UsageError

if TYPE_CHECKING:
    from logscan.results import RunInfo
    from logscan.scanoptions import ScanOptions, TimeBounds


def fail(error: LogscanError) -> NoReturn:
    click.echo(f"logscan: error: {sanitize.terminal_lines(str(error))}", err=True)
    sys.exit(int(error.exit_code))


# Set by -q/--quiet: warnings and notices are left out; errors and the report are not.
QUIET = "logscan.quiet"


def quiet() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context and context.meta.get(QUIET))


def warn(message: str) -> None:
    if not quiet():
        click.echo(f"logscan: warning: {sanitize.terminal(message)}", err=True)


def notice(message: str) -> None:
    if not quiet():
        click.echo(f"logscan: notice: {sanitize.terminal(message)}", err=True)


# Options that are not settings of a run, so not keys of the config file.
_NOT_CONFIG_KEYS = {"config", "help", "version"}
# Paths held as plain strings (- is stdout), read relative to the config file's folder too.
_PATH_KEYS = {"paths", "output", "events"}
_CONFIG_WARNING = "logscan.config_warning"


def config_keys(ctx: click.Context) -> dict[str, Any]:
    """The keys a config file may hold: the long options (and ``paths``) of every command, each
    naming the parameter of the current command it sets, checked by that parameter's type."""
    from logscan import config  # noqa: PLC0415

    def commands(command: click.Command) -> list[click.Command]:
        if isinstance(command, click.Group):
            return [command] + [c for sub in command.commands.values() for c in commands(sub)]
        return [command]

    keys: dict[str, config.Key] = {}
    # The current command's parameters first: theirs is the parameter a key sets.
    for command in [ctx.command, *commands(ctx.find_root().command)]:
        for param in command.params:
            key = _key_name(command, param)
            if key is None or key in _NOT_CONFIG_KEYS or key in keys:
                continue
            keys[key] = config.Key(
                parameter=(param.name or key) if command is ctx.command else "",
                kind=_kind(param),
                path=key in _PATH_KEYS or isinstance(param.type, click.Path),
                check=_click_check(ctx, param),
            )
    return keys


def _key_name(command: click.Command, param: click.Parameter) -> str | None:
    if isinstance(param, click.Argument):
        # Only the inputs of a scan: those of `rules test` are rule files, not logs.
        return param.name if command.name == "scan" else None
    longs = [name for name in param.opts if name.startswith("--")]
    return longs[0].removeprefix("--") if longs else None


def _kind(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.is_flag and not param.multiple:
        return "bool"
    if param.multiple or param.nargs == -1:
        return "list"
    return "int" if isinstance(param.type, click.types.IntParamType) else "str"


def _click_check(ctx: click.Context, param: click.Parameter) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        try:
            converted = param.type_cast_value(ctx, value)
        except click.BadParameter as error:
            raise ValueError(error.message) from error
        if param.callback is not None and not param.is_eager:  # e.g. the table style's check
            try:
                param.callback(ctx, param, converted)
            except click.BadParameter as error:
                raise ValueError(error.message) from error
        return converted

    return check


def load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """Eager, so it runs before the other options: the config file's values become their
    defaults, and an option given on the command line still wins. A file passed over is
    warned about once -q is known (see config_warning)."""
    from logscan import config  # noqa: PLC0415

    keys = config_keys(ctx)
    try:
        loaded = config.load(value, keys=keys)
    except LogscanError as error:
        fail(error)
    if loaded.ignored:
        ctx.meta[_CONFIG_WARNING] = loaded.ignored
        if not any(param.name == "quiet" for param in ctx.command.params):
            config_warning()
    parameters = {key: spec.parameter for key, spec in keys.items() if spec.parameter}
    ctx.default_map = {**loaded.defaults_for(parameters), **(ctx.default_map or {})}


def config_warning() -> None:
    """The warning about a config file passed over, if any; -q silences it."""
    context = click.get_current_context(silent=True)
    message = context.meta.pop(_CONFIG_WARNING, None) if context else None
    if message:
        warn(message)


def config_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=load_config,
        metavar="FILE",
        help="Take option defaults from this TOML file instead of the first of ./logscan.toml,"
        " the [tool.logscan] table of ./pyproject.toml, ~/.config/logscan/config.toml"
        " ($XDG_CONFIG_HOME) and /etc/logscan/config.toml. Keys are the long options without --.",
    )(command)


# The default table style: known to tabulate, so checking it needs no import of tabulate.
DEFAULT_TABLE_STYLE = "simple"


def check_table_style(style: str) -> str:
    if style == DEFAULT_TABLE_STYLE:
        return style
    from tabulate import tabulate_formats  # noqa: PLC0415

    # unsafehtml writes log text into HTML unescaped: markup from a log line would run.
    styles = [name for name in tabulate_formats if name != "unsafehtml"]
    if style not in styles:
        raise click.BadParameter(f"'{style}' is not a table style; choose one of: {', '.join(styles)}")
    return style


def echo_input_problems(reports: Sequence[Any]) -> None:
    """Each input not read, or not read completely, on stderr with its reason."""
    from logscan.inputs import STDIN_NAME  # noqa: PLC0415

    for report in reports:
        if report.error:
            warn(f"{report.name}: {report.error}")
        elif report.skipped:
            notice(f"{report.name}: skipped: {report.skipped}")
        elif report.empty and report.name != STDIN_NAME:
            notice(f"{report.name}: empty")


# The reproducible-builds convention: set, it is the report's generated_at (so that two runs
# over the same logs give the same bytes), and the scan's duration is left out for the same
# reason.
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def applied_bounds(options: ScanOptions) -> tuple[ScanOptions, TimeBounds]:
    """The options checked, with --since/--until fixed to the instants they mean now, so that
    the bounds the scan applies are the ones its report names (a span such as 24h moves)."""
    from logscan.scanoptions import TimeBounds, validate  # noqa: PLC0415

    checked = validate(options)
    bounds = TimeBounds.of(checked)
    fixed = replace(
        checked,
        since=bounds.since.isoformat() if bounds.since else None,
        until=bounds.until.isoformat() if bounds.until else None,
    )
    return fixed, bounds


def run_info(options: ScanOptions, bounds: TimeBounds, started: float) -> RunInfo:
    """What the report says about this run; ``started`` is the time.monotonic() of its start."""
    from logscan import __version__  # noqa: PLC0415
    from logscan.results import RunInfo  # noqa: PLC0415

    fixed = os.environ.get(SOURCE_DATE_EPOCH, "").strip()
    if fixed:
        try:
            generated_at = datetime.fromtimestamp(int(fixed), UTC)
        except (ValueError, OverflowError, OSError) as error:
            raise UsageError(
                f"{SOURCE_DATE_EPOCH}='{fixed}' is not a time in whole seconds since the Unix epoch"
            ) from error
    else:
        generated_at = datetime.now(UTC)
    return RunInfo(
        generated_at=generated_at,
        version=__version__,
        since=bounds.since,
        until=bounds.until,
        report_tz=options.report_tz,
        inputs=tuple(options.paths),
        duration_seconds=None if fixed else time.monotonic() - started,
    )
