"""``miniflow users ...``: the web UI's and REST API's users."""

from __future__ import annotations

import click

from miniflow.cli.common import get_store
from miniflow.cli.output import emit, output_option

__all__ = ["users"]

ROLES = ("Admin", "Op", "Viewer")


@click.group()
def users() -> None:
    """Manage web users."""


@users.command("create")
@click.option("-u", "--username", required=True)
@click.option("-r", "--role", type=click.Choice(ROLES), required=True)
@click.option("-p", "--password", default=None, help="Prompted for when not given.")
@click.option("-e", "--email", default=None)
@click.option("-f", "--firstname", default=None, hidden=True)
@click.option("-l", "--lastname", default=None, hidden=True)
def create(username: str, role: str, password: str | None, email: str | None,
           firstname: str | None, lastname: str | None) -> None:
    """Create a user (Admin and Op may act, Viewer only reads)."""
    from miniflow.web.auth import hash_password, new_user_problem

    if (problem := new_user_problem(username, "x" * 8)) is not None:
        raise click.BadParameter(problem[1], param_hint="--username")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if (problem := new_user_problem(username, password)) is not None:
        raise click.BadParameter(problem[1], param_hint=f"--{problem[0]}")
    try:
        get_store().create_user(username, hash_password(password), role, email)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"User {username} created with role {role}")


@users.command("list")
@output_option
def list_users(output: str) -> None:
    emit([{"username": u.username, "role": u.role, "email": u.email, "last_login": u.last_login}
          for u in get_store().users()], output, ["username", "role", "email", "last_login"])


@users.command("delete")
@click.option("-u", "--username", required=True)
def delete(username: str) -> None:
    if not get_store().delete_user(username):
        raise click.ClickException(f"no user named {username!r}")
    click.echo(f"User {username} deleted")
