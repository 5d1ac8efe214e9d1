"""The backend service: a FastAPI app serving one ``ReportModel`` over HTTP (see docs/API.md)."""

from ml.serve.app import BackendSettings, create_app

__all__ = ["BackendSettings", "create_app"]
