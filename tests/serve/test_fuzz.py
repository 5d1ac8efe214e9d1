"""Schemathesis against the app's own OpenAPI schema: no input the schema admits (or nearly admits)
produces a 5xx, responses match their documented schemas, and the server stays up."""

from __future__ import annotations

from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ml.models.drafter import Drafter  # noqa: E402
from ml.models.llm import tiny_llm  # noqa: E402
from ml.serve import Settings, create_app  # noqa: E402
from tests.serve.conftest import AUTH, TOKEN  # noqa: E402


def _app():
    model, tok = tiny_llm(hidden=32, layers=1)
    model.config.max_position_embeddings = 96  # long generations are rejected cheaply (context_too_long)
    drafter = Drafter(model, tok, base_identity={"name": "tiny-llama", "sha256": ""})
    return create_app(drafter, TOKEN, Settings(max_pixels=250_000, max_body_bytes=1 << 20))


APP = _app()
# Examples (the schema's own) + bounded random fuzzing; the exhaustive coverage phase makes
# hundreds of cases per operation, too slow for the unit suite on two shared cores.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
SEEN: Counter[tuple[str, int]] = Counter()
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors(case):
    response = case.call_and_validate(headers=AUTH, checks=CHECKS)
    SEEN[(case.operation.path, response.status_code)] += 1


def test_server_still_serves_after_fuzzing():
    from fastapi.testclient import TestClient

    body = TestClient(APP).get("/v1/health").json()
    assert body["ready"] is True
    if SEEN:  # the fuzz ran in this session: it also reached the model, not only the validators
        assert SEEN[("/v1/reports", 200)] + SEEN[("/v1/reports/stream", 200)] > 0, SEEN
        assert SEEN[("/v1/scanpaths", 409)] > 0, SEEN
