"""Property-based run over the app's own OpenAPI description (schemathesis): whatever it
sends, the API never answers 5xx and never shows a traceback. Bounded: a few examples
per operation, so it stays a few seconds of the suite."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.api.conftest import CIO_AUTH, Kit


@pytest.fixture
def api_schema(kit: Kit) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", kit.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_no_tracebacks(case: schemathesis.Case) -> None:
    for headers in (CIO_AUTH, None):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        assert "Traceback" not in response.text
        assert 'File "' not in response.text
