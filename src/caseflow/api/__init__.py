"""caseflow's HTTP API (FastAPI): ``create_app(settings)`` and ``caseflow serve``."""

from caseflow.api.app import create_app
from caseflow.api.settings import Settings

__all__ = ["Settings", "create_app"]
