"""ecr_authorization_token against the local AWS: a usable login, and no write call, also in check mode."""

from __future__ import annotations

import base64

import pytest

from tests.support.ansible_run import run_module

pytestmark = pytest.mark.integration


def test_login_without_write_and_in_check_mode(local_aws, recorder):
    result = run_module("ecr_authorization_token", {}, endpoint=recorder.endpoint)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["registry"] and "://" not in result["registry"]
    assert result["proxy_endpoint"].endswith(result["registry"])
    assert result["username"] == "AWS"
    # The Basic token is username:password, so the login works both for a client and for the registry HTTP API.
    assert base64.b64decode(result["authorization_token"]).decode() == f"AWS:{result['password']}"
    assert result["password"]
    checked = run_module("ecr_authorization_token", {}, endpoint=recorder.endpoint, check=True)
    assert checked["changed"] is False and checked["username"] == "AWS"
    assert [call.operation for call in recorder.calls] == ["GetAuthorizationToken"] * 2
    assert recorder.writes == []
