"""/readyz under a flood of probes (review of issue 11).

The probe is anonymous. While the database answers, many probes at once (a stranger's, or an
orchestrator's plus a stranger's) must all be 200: a healthy instance reported "not ready"
is taken out of rotation, an outage anyone can cause.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.factories import Border


def test_many_probes_at_once_on_a_healthy_database_are_all_ready(
    web: TestClient, border: Border
) -> None:
    assert web.get("/readyz").status_code == 200

    def probe(_: int) -> tuple[int, str]:
        answer = web.get("/readyz")
        return answer.status_code, answer.text

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(probe, range(160)))
    refused = [text for status, text in answers if status != 200]
    assert refused == [], f"{len(refused)} of {len(answers)} probes said: {refused[0]}"
