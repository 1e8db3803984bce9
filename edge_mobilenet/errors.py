import click


class EdgembError(click.ClickException):
    """A mistake the user can fix: shown as one line, exit code 1, no traceback."""
