"""Errors the deploy raises on purpose: pyinfra prints them as one clear line."""

from pyinfra.api.exceptions import PyinfraError


class DeployInputError(PyinfraError):
    """Bad input (inventory, data, existing host state): refused before any host changes."""
