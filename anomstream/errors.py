"""The one error a command raises to end with a one-line message and exit status 1."""

from __future__ import annotations

from pydantic import ValidationError


class CliError(Exception):
    """A failure the user can act on; its message is printed alone, without a traceback."""


def settings_error(exc: ValidationError, env_prefix: str) -> CliError:
    """Name the environment variable behind the first invalid setting."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    return CliError(f"bad setting {env_prefix}{field.upper()}: {error['msg']}")
