"""The backend service: a FastAPI app serving one ``ReportModel`` over HTTP (see docs/API.md)."""

from ml.serve.app import Settings, create_app

__all__ = ["Settings", "create_app"]
