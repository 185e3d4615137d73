"""Errors the deploy raises on purpose: pyinfra prints them as one clear line."""

from pyinfra import logger
from pyinfra.api.exceptions import DeployError
from pyinfra.api.host import Host


class DeployInputError(DeployError):
    """Bad input (inventory, data, existing host state): refused before any host changes."""


class RemoteReadError(DeployError):
    """A read from a host failed or was cut short: the host's fault, not the controller's
    (a plain ``OSError`` would be reported by pyinfra as a "Local IO error")."""


def fail(target: Host, message: str) -> bool:
    """Log why an operation's function failed on ``target`` (in red) and fail it."""
    target.log_styled(message, fg="red", log_func=logger.error)
    return False
