"""The one error a command raises to end with a one-line message and exit status 1."""

from __future__ import annotations

from pydantic import ValidationError


class CliError(Exception):
    """A failure the user can act on; its message is printed alone, without a traceback."""


def settings_error(exc: ValidationError, env_prefix: str) -> CliError:
    """Name the environment variable behind the first invalid setting."""
    error = exc.errors()[0]
    if not error["loc"]:
        # A check across settings (e.g. a SASL protocol without a password): its message
        # names the variables itself.
        return CliError(f"bad {env_prefix}* settings: {error['msg']}")
    field = str(error["loc"][0])
    return CliError(f"bad setting {env_prefix}{field.upper()}: {error['msg']}")
