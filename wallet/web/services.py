"""Pages: services (being written)."""

from __future__ import annotations

from fastapi import FastAPI

from wallet.web.rendering import Pages


def install(app: FastAPI, pages: Pages) -> None:
    """Add this group's routes."""
