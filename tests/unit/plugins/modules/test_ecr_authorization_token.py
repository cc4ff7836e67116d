"""Unit tests of ecr_authorization_token's decoding of GetAuthorizationToken's answer (no AWS)."""

from __future__ import annotations

import base64
import datetime
import sys

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.modules import ecr_authorization_token


def test_login_splits_the_token_and_strips_the_scheme():
    token = base64.b64encode(b"AWS:secret:with:colons").decode()
    expires = datetime.datetime(2026, 11, 29, 5, 0, tzinfo=datetime.UTC)
    login = ecr_authorization_token.login_from(
        {
            "authorizationToken": token,
            "proxyEndpoint": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "expiresAt": expires,
        }
    )
    assert login == {
        "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "proxy_endpoint": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "username": "AWS",
        "password": "secret:with:colons",
        "authorization_token": token,
        "expires_at": "2026-11-29T05:00:00+00:00",
    }
