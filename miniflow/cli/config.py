"""``miniflow config ...``: the settings in force and where each came from."""

from __future__ import annotations

import click

from miniflow.cli.output import emit, output_option

__all__ = ["config"]


@click.group()
def config() -> None:
    """Show configuration values and their sources."""


@config.command("list")
@click.option("--section", default=None, help="Only this section.")
@output_option
def list_config(section: str | None, output: str) -> None:
    """Every setting: section, key, value and source (default, file or env)."""
    from miniflow.config import Config
    from miniflow.defaults import DEFAULTS
    from miniflow.secrets import is_sensitive

    rows = [
        {"section": s, "key": k, "value": "***" if is_sensitive(k) and v.value else v.value, "source": v.source,
         "help": DEFAULTS[s][k].help}
        for s, k, v in Config().items()
        if section is None or s == section
    ]
    emit(rows, output, ["section", "key", "value", "source"] + (["help"] if output == "json" else []))


@config.command("get")
@click.argument("section")
@click.argument("key")
@click.option("--source", is_flag=True, help="Also print where the value came from.")
def get_value(section: str, key: str, source: bool) -> None:
    """Print one setting's value."""
    from miniflow.config import Config

    found = Config().lookup(section, key)
    click.echo(f"{found.value}\t{found.source}" if source else str(found.value))


@config.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing miniflow.toml.")
def init(force: bool) -> None:
    """Write $MINIFLOW_HOME/miniflow.toml with every setting, commented out at its default."""
    from miniflow.config import miniflow_home
    from miniflow.defaults import DEFAULTS

    path = miniflow_home() / "miniflow.toml"
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    lines = ["# miniflow settings: uncomment a line to change it. Environment variables",
             "# MINIFLOW__SECTION__KEY override this file; 'miniflow config list' shows the result."]
    for section, settings in DEFAULTS.items():
        lines += ["", f"[{section}]"]
        for key, setting in settings.items():
            lines.append(f"# {setting.help}")
            lines.append(f"# {key} = {_toml(setting.default)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    click.echo(f"Wrote {path}")


def _toml(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))
