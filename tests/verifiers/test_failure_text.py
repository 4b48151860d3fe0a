"""Text a stranger posts never reaches a backend as markup (issue 14 defect 15): a vp_token keyed by
`<img src=x onerror=alert(1)>` ended up verbatim in the check's failure detail."""

from __future__ import annotations

import base64
import json

from tests.conftest import bearer_for
from verifiers.texts import neutral_text

MARKUP = "<img src=x onerror=alert(1)>"


def _state_of(client, request_id: str) -> str:
    token = client.get(f"/verifiers/seoul-youth/requests/{request_id}/object").text
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["state"]


def test_a_strangers_markup_is_neither_in_the_failure_nor_in_the_error_description(client, platform) -> None:
    backend = bearer_for(client, platform, "verifier:seoul-youth", ["presentations:request"])
    check = client.post("/verifiers/requests", json={"service_id": "seoul_youth_allowance"}, headers=backend).json()
    form = {"state": _state_of(client, check["request_id"]), "vp_token": json.dumps({MARKUP + "\u202e" * 3: ["a~b~"]})}
    answer = client.post("/verifiers/seoul-youth/response", data=form)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    description = answer.json()["error_description"]
    failure = client.get(f"/verifiers/requests/{check['request_id']}", headers=backend).json()["failure"]
    for text in (description, failure["detail"]):
        assert "<" not in text and ">" not in text and '"' not in text and "\u202e" not in text
        assert text.isascii() and "img src=x onerror=alert(1)" in text  # still says what was posted
    assert failure["reason"] == "unrequested_credential"


def test_long_text_is_bounded() -> None:
    assert len(neutral_text("x" * 10_000)) == 300 and neutral_text("x" * 10_000).endswith("...")
    assert neutral_text("a\n\n\tb") == "a b" and neutral_text('say "hi" & <b>') == "say ?hi? ? ?b?"
