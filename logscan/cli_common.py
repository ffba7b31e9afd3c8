"""What every command of the command line shares: messages on stderr (errors, warnings and
notices, shown inert; -q silences all but errors), the config option, table styles."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from logscan import sanitize
from logscan.errors import LogscanError


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


def load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """Eager, so it runs before the other options: the config file's values become their
    defaults, and an option given on the command line still wins."""
    from logscan import config  # noqa: PLC0415

    try:
        loaded = config.load(value)
    except LogscanError as error:
        fail(error)
    if loaded.ignored:
        warn(loaded.ignored)
    names = {param.name for param in ctx.command.params if param.name}
    ctx.default_map = {**loaded.defaults_for(names), **(ctx.default_map or {})}


def config_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=load_config,
        metavar="FILE",
        help="Take option defaults from this TOML file instead of ./logscan.toml or the"
        " [tool.logscan] table of ./pyproject.toml.",
    )(command)


def check_table_style(style: str) -> str:
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
