"""The HTTP API of the center: ``create_app()`` builds it, ``fanzha serve`` runs it."""

from fanzha.api.main import create_app

__all__ = ["create_app"]
