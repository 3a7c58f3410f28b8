"""Property-based requests generated from the OpenAPI spec (schemathesis): the API never answers 5xx.

Every operation gets generated valid and invalid inputs over real HTTP, signed in as an
admin (who may reach most endpoints) so requests get past authentication and exercise
validation and the service layer; unauthenticated requests are covered by the role matrix.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from api_helpers import LiveServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow


def test_no_operation_answers_5xx(live_sqlite: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{live_sqlite.base_url}/openapi.json")
    auth = live_sqlite.login("admin")
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 10

    for op in operations:
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(), use_auth=st.booleans())
        def check(case: schemathesis.Case, use_auth: bool) -> None:
            response = case.call(base_url=live_sqlite.base_url, headers=auth if use_auth else {})
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")

        check()
    assert not failures, "\n".join(failures[:10])
    # the generated requests reached past authentication and validation into the service
    assert sum(statuses.values()) >= 10 * len(operations)
    assert statuses[401] > 0 and statuses[422] > 0 and sum(n for c, n in statuses.items() if c < 300) > 0, statuses
