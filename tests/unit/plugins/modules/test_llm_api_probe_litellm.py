# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lisyoen.frp.llm_api_probe against LiteLLM 1.110.2's recorded answers, replayed by a real local server.

fixtures/litellm-1.110.2-responses.json holds what a real LiteLLM proxy (master key, no database)
answered; its _comment says how it was recorded. Each case is replayed from a ScriptedServer on
127.0.0.1 and the test asserts the diagnosis and the hint the message gives.
"""

import pytest

from llm_probe_servers import API_KEY, MODEL, litellm_answer, litellm_cases, litellm_responder, litellm_shape

CASES = litellm_cases()
SHAPE_KEYS = ("status", "content_type", "error_type", "body")


def args_for(url, **extra):
    args = {"url": url, "host_header": "llm.local", "api_key": API_KEY, "timeout": 5, "expected_models": [MODEL]}
    args.update(extra)
    return dict((k, v) for k, v in args.items() if v is not None)


# --- the fixture and litellm_shape() -----------------------------------------------------------------

def test_fixture_holds_the_cases_the_probe_meets():
    assert {"models_ok", "wrong_key", "no_key", "unknown_model", "api_down"} <= set(CASES)
    assert (CASES["wrong_key"]["status"], CASES["wrong_key"]["error_type"]) == (400, "no_db_connection")
    assert (CASES["no_key"]["status"], CASES["no_key"]["error_type"]) == (401, "auth_error")
    assert CASES["api_down"]["status"] is None and CASES["api_down"]["transport_error"] == "connection_refused"


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["status"] is not None))
def test_a_replayed_answer_reduces_to_its_recorded_shape(name):
    head, body = litellm_answer(CASES[name]).split(b"\r\n\r\n", 1)
    content_type = [line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-type:")][0]
    assert litellm_shape(CASES[name]["status"], body, content_type) == dict((k, CASES[name][k]) for k in SHAPE_KEYS)


def test_litellm_shape_keeps_what_is_stable():
    stream = (b'data: {"id":"chatcmpl-9","created":1795774337,"object":"chat.completion.chunk","choices":[]}\n\n'
              b"data: [DONE]\n\n")
    assert litellm_shape(200, stream, "text/event-stream; charset=utf-8") == {
        "status": 200, "content_type": "text/event-stream", "error_type": None,
        "body": [{"id": "<volatile>", "created": "<volatile>", "object": "chat.completion.chunk", "choices": []},
                 "[DONE]"]}
    # A model card's id is its name, not a volatile id.
    models = b'{"data":[{"id":"m","object":"model","created":1,"owned_by":"openai"}],"object":"list"}'
    card = {"id": "m", "object": "model", "created": 1, "owned_by": "openai"}
    assert litellm_shape(200, models)["body"]["data"] == [card]
    error = '{"error":{"type":"no_db_connection","message":"No connected db."}}'
    assert litellm_shape(400, error)["error_type"] == "no_db_connection"
    bare = {"status": 500, "error_type": None, "body": "Internal Server Error"}
    assert litellm_shape(500, b"Internal Server Error") == bare
    assert litellm_shape(None, None) == {"status": None, "error_type": None, "body": None}


# --- GET /v1/models ----------------------------------------------------------------------------------

def test_right_key(run_module, scripted):
    server = scripted(litellm_responder("models_ok"))
    failed, result = run_module(args_for(server.url))
    assert not failed and result["diagnosis"] == "ok"
    assert result["models"] == [MODEL]


def test_wrong_key_is_a_rejected_key_not_an_upstream_error(run_module, scripted):
    server = scripted(litellm_responder("wrong_key"))
    failed, result = run_module(args_for(server.url))
    assert failed
    assert result["diagnosis"] == "api_key_rejected" and result["status"] == 400
    assert "the API key was rejected" in result["msg"]
    assert 'answers any other with 400 "No connected db."' in result["msg"]  # why a 400 means the key
    assert 'Body: {"error":{"message":"No connected db."' in result["msg"]


def test_no_key_is_a_missing_key(run_module, scripted):
    server = scripted(litellm_responder("no_key"))
    failed, result = run_module(args_for(server.url, api_key=None))
    assert failed
    assert result["diagnosis"] == "api_key_missing" and result["status"] == 401
    assert "none was sent" in result["msg"] and "Set api_key" in result["msg"]
    assert "authorization" not in server.requests[0].headers


def test_basic_auth_instead_of_a_key(run_module, scripted):
    # What reaches LiteLLM when something on the path does basic auth: LiteLLM answers 400 no_db_connection.
    server = scripted(litellm_responder("basic_auth"))
    failed, result = run_module(args_for(server.url, api_key=None, url_username="admin", url_password="secret",
                                         force_basic_auth=True))
    assert failed and result["diagnosis"] == "api_key_missing" and result["status"] == 400
    assert server.requests[0].headers["authorization"].startswith("Basic ")


def test_api_down(run_module, closed_port):
    failed, result = run_module(args_for("http://127.0.0.1:%d" % closed_port))
    assert failed and result["diagnosis"] == CASES["api_down"]["transport_error"]


# --- the chat smoke test -----------------------------------------------------------------------------

@pytest.mark.parametrize("chat_case, stream, diagnosis, hint", [
    ("chat_ok", False, "ok", "(not streamed)"),
    ("chat_stream_ok", True, "ok", "first token after"),
    ("unknown_model", True, "chat_rejected", "Invalid model name passed in model=nope/model"),
    ("chat_wrong_key", True, "api_key_rejected", "the API key was rejected"),
    ("model_server_down", True, "upstream_error", "LiteLLM passed on an error from the model server"),
    # The model server refused LiteLLM's own key: not the key the probe sent.
    ("model_server_key_rejected", True, "upstream_error", "check api_key in the model's litellm_params"),
])
def test_chat(run_module, scripted, chat_case, stream, diagnosis, hint):
    server = scripted(litellm_responder("models_ok", chat_case))
    failed, result = run_module(args_for(server.url, chat_model=MODEL, chat_stream=stream))
    assert failed == (diagnosis != "ok")
    assert result["diagnosis"] == diagnosis
    assert result["chat"]["status"] == CASES[chat_case]["status"]
    assert hint in result["message"]
    if diagnosis == "ok":
        assert result["chat"]["content"] == "pong token1 token2 token3"
        assert result["chat"]["finish_reason"] == "length" and result["chat"]["done"] is True
    if chat_case == "model_server_key_rejected":
        assert "the API key was rejected" not in result["msg"]
