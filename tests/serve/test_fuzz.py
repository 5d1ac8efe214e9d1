"""Schemathesis against the app's own OpenAPI schema, in-process, with every check it has and both
positive and negative data: nothing it sends produces a 5xx, an undocumented status or body, a
schema-valid request refused for its form, or a schema-invalid one accepted."""

from __future__ import annotations

from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import CHECKS, load_all_checks  # noqa: E402

from ml.models.bundle import BundleError  # noqa: E402
from ml.serve import BackendSettings, create_app  # noqa: E402
from tests.serve.conftest import AUTH, TOKEN, FakeModel  # noqa: E402

ADMIN = {"Authorization": "Bearer admin-token-0123456789abcdef"}


def _no_bundle(path):
    raise BundleError(f"{path} is not a model bundle (no manifest.json)")


APP = create_app(
    FakeModel(),
    TOKEN,
    BackendSettings(max_pixels=250_000, max_body_bytes=1 << 20),
    admin_token=ADMIN["Authorization"].split()[1],
    loader=_no_bundle,
)
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all"},
        "checks": {
            # A request the schema admits is refused only for what JSON Schema cannot say: bytes
            # that do not decode to a radiograph, more pixels than the server takes, or a gaze point
            # outside the image (``content_refusals_only`` below holds those 422s and 413s to that).
            "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "409", "413", "422", "429"]},
        },
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
SEEN: Counter[tuple[str, str, int]] = Counter()
load_all_checks()


@schemathesis.check
def content_refusals_only(ctx, response, case):
    """A positive case refused with 413/422 names the image or gaze content, never the request's form."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (413, 422):
        return None
    code = response.json().get("code")
    if code not in ("bad_image", "bad_gaze", "too_large"):
        raise AssertionError(f"schema-valid request refused as {code}: {response.json().get('detail')}")
    return None


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_schemathesis_finds_nothing(case):
    headers = ADMIN if case.operation.path.startswith("/v1/admin/") else AUTH
    response = case.call_and_validate(headers=headers, checks=CHECKS.get_all())
    mode = "positive" if case.meta is None or case.meta.generation.mode.is_positive else "negative"
    SEEN[(case.operation.path, mode, response.status_code)] += 1


def test_fuzzing_reached_the_model_and_the_server_still_serves():
    assert len(CHECKS.get_all()) >= 15 and content_refusals_only in CHECKS.get_all()
    from fastapi.testclient import TestClient

    assert TestClient(APP).get("/v1/health").json()["ready"] is True
    if SEEN:  # the fuzz ran in this session: it also reached the model, not only the validators
        assert SEEN[("/v1/reports", "positive", 200)] + SEEN[("/v1/reports/stream", "positive", 200)] > 0, SEEN
        assert any(mode == "negative" for _, mode, _ in SEEN), SEEN
        assert SEEN[("/v1/admin/bundle", "positive", 409)] > 0, SEEN
