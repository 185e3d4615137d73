"""Errors the deploy raises on purpose: pyinfra prints them as one clear line."""

from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host


class DeployInputError(PyinfraError):
    """Bad input (inventory, data, existing host state): refused before any host changes."""


def fail(target: Host, message: str) -> bool:
    """Log why an operation's function failed on ``target`` (in red) and fail it."""
    target.log_styled(message, fg="red", log_func=logger.error)
    return False
