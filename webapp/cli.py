"""`flask --app wsgi users create EMAIL --admin` for scripted installs."""
import sys

import click
from flask.cli import AppGroup

from .services.accounts import AccountError, create_user

users_cli = AppGroup("users", help="Manage SMS Desk users.")


@users_cli.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def create_user_command(email, admin):
    """Create a user. The password is read from standard input, or prompted for."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user = create_user(email, password, is_admin=admin)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"created {'administrator' if user.is_admin else 'user'} {user.email}")


def init_app(app):
    app.cli.add_command(users_cli)
