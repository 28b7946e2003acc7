# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How llm_probe_openai reads an HTTP error: every shape of "wrong or missing key" is the key diagnosis."""

import json

import pytest

from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_openai import (
    classify_chat_status,
    classify_status,
    error_fields,
)
from llm_probe_servers import FRP_404_PAGE, litellm_cases

CASES = litellm_cases()


def recorded(name):
    return CASES[name]["status"], json.dumps(CASES[name]["body"]).encode()


@pytest.mark.parametrize("name, key_sent, expected", [
    ("wrong_key", True, "api_key_rejected"),
    ("basic_auth", False, "api_key_missing"),
    ("no_key", False, "api_key_missing"),
    ("chat_wrong_key", True, "api_key_rejected"),
    ("chat_no_key", False, "api_key_missing"),
    ("unknown_model", True, "upstream_error"),
    ("model_server_down", True, "upstream_error"),
    ("model_server_key_rejected", True, "upstream_error"),
])
def test_litellm_1_110_2_answers(name, key_sent, expected):
    status, body = recorded(name)
    assert classify_status(status, body, key_sent) == expected


@pytest.mark.parametrize("status, body, key_sent, expected", [
    (401, b"", True, "api_key_rejected"),
    (403, b"Forbidden", True, "api_key_rejected"),
    (401, b'{"error":"Unauthorized"}', True, "api_key_rejected"),  # vLLM's own --api-key check
    # LiteLLM versions that answer a missing key with a 500 carrying the auth message ...
    (500, b'{"error":{"message":"Authentication Error, No api key passed in.","type":"None","param":"None",'
          b'"code":"500"}}', False, "api_key_missing"),
    # ... or with a bare 500; sent with a key, a bare 500 is the API's own failure.
    (500, b"Internal Server Error", False, "api_key_missing"),
    (500, b"Internal Server Error", True, "upstream_error"),
    (400, b'{"error":{"message":"Authentication Error, Invalid proxy server token passed.","type":'
          b'"token_not_found_in_db","code":"401"}}', True, "api_key_rejected"),  # LiteLLM with a database
    (500, b'{"error":{"message":"vLLM engine dead","type":"internal_server_error"}}', False, "upstream_error"),
    (404, FRP_404_PAGE, True, "frp_no_proxy"),
    (504, b"", True, "gateway_timeout"),
    (502, b"", True, "upstream_error"),
])
def test_other_shapes(status, body, key_sent, expected):
    assert classify_status(status, body, key_sent) == expected


@pytest.mark.parametrize("name, expected", [
    ("unknown_model", "chat_rejected"),
    ("chat_wrong_key", "api_key_rejected"),
    ("model_server_key_rejected", "upstream_error"),
    ("model_server_down", "upstream_error"),
])
def test_chat_answers(name, expected):
    status, body = recorded(name)
    assert classify_chat_status(status, body) == expected


def test_chat_rate_limit_is_not_a_rejected_request():
    body = b'{"error":{"message":"No deployments available for selected model","type":"all_deployments_in_cooldown"}}'
    assert classify_chat_status(429, body) == "upstream_error"


@pytest.mark.parametrize("body, expected", [
    (b'{"error":{"type":"auth_error","message":"m"}}', ("auth_error", "m")),
    (b'{"error":"Unauthorized"}', ("", "Unauthorized")),
    (b'{"detail":"Not Found"}', ("", "Not Found")),
    (b'{"error":{"type":null}}', ("", "")),
    (b"<html>nginx</html>", ("", "")),
    (b"", ("", "")),
    (b"[1, 2]", ("", "")),
    (b"\xff\xfe", ("", "")),
])
def test_error_fields(body, expected):
    assert error_fields(body) == expected
