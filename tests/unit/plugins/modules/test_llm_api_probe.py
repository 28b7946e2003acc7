# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lisyoen.frp.llm_api_probe against real HTTP servers on 127.0.0.1, one test per diagnosis.

The servers are the lab's fake OpenAI API and scripted servers that replay what frps 0.65.0 really
sends (see conftest.py). Every run also checks that no secret reaches the result.
"""

import socket
import threading
import time

import pytest

import fake_openai
from ansible_collections.lisyoen.frp.plugins.module_utils import (
    llm_probe_diagnoses,
    llm_probe_frps,
    llm_probe_openai,
)
from llm_probe_servers import (
    API_KEY,
    DASH_PASSWORD,
    DASH_USER,
    FRP_404_PAGE,
    MODEL,
    RESET,
    dashboard_responder,
    frp_404_response,
    frp_504_response,
    simple_response,
)

# What playbooks/verify.yml passes as `context`, so that messages name the lab's hosts.
CONTEXT = {"server_host": "minipc", "client_host": "spark", "control_port": 7000, "api_local": "127.0.0.1:4000"}


def args_for(url, **extra):
    args = {"url": url, "host_header": "llm.local", "api_key": API_KEY, "timeout": 2}
    args.update(extra)
    return args


def models_body(*ids):
    return '{"object":"list","data":[%s]}' % ",".join(
        '{"id":"%s","object":"model","created":1,"owned_by":"openai"}' % i for i in ids)


def models_then(chat_answer):
    """A responder: /v1/models lists MODEL, the chat completion gets `chat_answer`."""
    def respond(request, server):
        if request.path.endswith("/models"):
            return simple_response("200 OK", models_body(MODEL))
        return chat_answer
    return respond


# --- success -------------------------------------------------------------------------------------

def test_ok_lists_models_and_sends_host_and_key(run_module, fake_api):
    before = fake_api.stats["requests"]
    failed, result = run_module(args_for(fake_api.url, expected_models=[MODEL]))
    assert not failed
    assert result["diagnosis"] == "ok"
    assert result["status"] == 200
    assert result["models"] == [MODEL, "other/small-model"]
    assert result["missing_models"] == []
    assert result["attempts"] == 1
    assert result["url"] == fake_api.url + "/v1/models"
    assert result["latency_ms"] > 0
    assert "cert_days_left" not in result and "cert_not_after" not in result  # plain http
    assert "answered 200" in result["message"] and MODEL in result["message"]
    assert "chat" not in result and "frps_proxies" not in result
    assert fake_api.stats["requests"] == before + 1


def test_ok_accepts_base_url_ending_in_v1(run_module, scripted):
    server = scripted(lambda req, srv: simple_response("200 OK", models_body(MODEL)))
    failed, result = run_module(args_for(server.url + "/v1/"))
    assert not failed and result["diagnosis"] == "ok"
    request = server.requests[0]
    assert request.path == "/v1/models"
    assert request.headers["host"] == "llm.local"
    assert request.headers["authorization"] == "Bearer " + API_KEY


def test_no_authorization_header_without_api_key(run_module, scripted):
    server = scripted(lambda req, srv: simple_response("200 OK", models_body(MODEL)))
    failed, result = run_module({"url": server.url, "host_header": "llm.local"})
    assert not failed
    assert "authorization" not in server.requests[0].headers


def test_sends_its_own_user_agent_and_honours_http_agent(run_module, scripted):
    server = scripted(lambda req, srv: simple_response("200 OK", models_body(MODEL)))
    run_module(args_for(server.url))
    run_module(args_for(server.url, http_agent="my-agent/1"))
    assert [r.headers["user-agent"] for r in server.requests] == ["lisyoen.frp.llm_api_probe", "my-agent/1"]


def test_url_basic_auth_goes_through_open_url(run_module, scripted):
    server = scripted(lambda req, srv: simple_response("200 OK", models_body(MODEL)))
    failed, result = run_module({"url": server.url, "url_username": "u", "url_password": DASH_PASSWORD,
                                 "force_basic_auth": True})
    assert not failed
    assert server.requests[0].headers["authorization"] == "Basic dTpkYXNoLXB3LTVlMWI5ZA=="  # u:dash-pw-5e1b9d


def test_api_key_and_url_username_exclude_each_other(run_module):
    failed, result = run_module(args_for("http://127.0.0.1:1", url_username="u"))
    assert failed and "mutually exclusive" in result["msg"]


def test_credentials_in_url_are_refused(run_module):
    failed, result = run_module({"url": "http://u:pw@127.0.0.1:1"})
    assert failed and "must not hold credentials" in result["msg"]


def test_check_mode_still_probes(run_module, fake_api):
    before = fake_api.stats["requests"]
    failed, result = run_module(args_for(fake_api.url), check_mode=True)
    assert not failed
    assert result["diagnosis"] == "ok" and result["status"] == 200
    assert fake_api.stats["requests"] == before + 1


# --- cannot connect ------------------------------------------------------------------------------

def test_connection_refused(run_module, closed_port):
    failed, result = run_module(args_for("http://127.0.0.1:%d" % closed_port))
    assert failed
    assert result["diagnosis"] == "connection_refused"
    assert result["status"] is None and result["models"] == []
    assert "connection refused by 127.0.0.1:%d" % closed_port in result["msg"]
    assert "frps is down" in result["msg"] and "firewall" in result["msg"]
    # Through a tcp proxy, frps opens the API port only while frpc is connected.
    assert "systemctl status frpc" in result["msg"]
    assert "on the frpc host check" in result["msg"]  # neutral wording without context
    assert result["msg"] == result["message"]


def test_connection_timeout(run_module, unconnectable_port):
    start = time.monotonic()
    failed, result = run_module(args_for("http://127.0.0.1:%d" % unconnectable_port, timeout=0.5,
                                         context=CONTEXT))
    assert failed
    assert result["diagnosis"] == "connection_timeout"
    assert result["status"] is None
    assert "could not connect" in result["msg"] and "the firewall on minipc (the frps host)" in result["msg"]
    assert time.monotonic() - start < 10  # gave up after the timeout, not the OS's minutes


def test_dns_failure(run_module, monkeypatch):
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, *args, **kwargs):
        if host == "frps.example.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    # No resolver is asked: the lookup fails right here, as an unknown name would.
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    failed, result = run_module(args_for("http://frps.example.invalid:8081"))
    assert failed
    assert result["diagnosis"] == "dns_failure"
    assert "frps.example.invalid does not resolve" in result["msg"]


def test_tls_error_on_https_to_plain_http(run_module, fake_api):
    failed, result = run_module(args_for(fake_api.url.replace("http://", "https://")))
    assert failed
    assert result["diagnosis"] == "tls_error"
    assert "TLS failed" in result["msg"] and "http://" in result["msg"]


def test_connection_closed_like_frps_control_port(run_module, scripted):
    # frps' bindPort reads an HTTP request and hangs up without a word (checked on 0.65.0).
    server = scripted(lambda req, srv: None)
    failed, result = run_module(args_for(server.url, context=CONTEXT))
    assert failed
    assert result["diagnosis"] == "connection_closed"
    assert "control port (bindPort, 7000)" in result["msg"]
    # Through a tcp proxy, frpc hangs up like this when the local API does not answer.
    assert "cannot reach the local API" in result["msg"]
    assert "on spark (the frpc host) check that `curl http://127.0.0.1:4000/v1/models` answers" in result["msg"]


def test_connection_closed_without_context_uses_neutral_wording(run_module, scripted):
    server = scripted(lambda req, srv: None)
    failed, result = run_module(args_for(server.url))
    assert result["diagnosis"] == "connection_closed"
    assert "control port (bindPort)" in result["msg"]
    assert "on the frpc host check that the API answers at the proxy's localIP and localPort" in result["msg"]


def test_connection_reset_like_a_forwarder_without_frpc(run_module, scripted):
    server = scripted(lambda req, srv: RESET)
    failed, result = run_module(args_for(server.url))
    assert failed
    assert result["diagnosis"] == "connection_reset"
    assert result["status"] is None
    assert "was reset" in result["msg"] and "systemctl status frpc" in result["msg"]


def test_read_timeout(run_module, scripted):
    server = scripted(lambda req, srv: [(simple_response("200 OK", models_body(MODEL)), 10)])
    start = time.monotonic()
    failed, result = run_module(args_for(server.url, timeout=0.5))
    assert failed
    assert result["diagnosis"] == "read_timeout"
    assert result["status"] is None
    assert "no answer within 0.5 s" in result["msg"]
    assert time.monotonic() - start < 8  # did not wait for the answer that comes after 10 s


# --- frp's 404 page ------------------------------------------------------------------------------

def test_frp_404_page_fixture_is_the_real_capture():
    assert len(FRP_404_PAGE) == 489
    assert llm_probe_frps.is_frp_not_found_page(404, FRP_404_PAGE)
    assert not llm_probe_frps.is_frp_not_found_page(200, FRP_404_PAGE)
    assert not llm_probe_frps.is_frp_not_found_page(404, b'{"detail":"Not Found"}')
    assert not llm_probe_frps.is_frp_not_found_page(404, b"<html><h1>404 Not Found</h1>nginx</html>")


def test_frp_no_proxy(run_module, scripted):
    server = scripted(lambda req, srv: frp_404_response())
    failed, result = run_module(args_for(server.url, host_header="LLM.Local:8081", context=CONTEXT))
    assert failed
    assert result["diagnosis"] == "frp_no_proxy"
    assert result["status"] == 404 and result["models"] == []
    msg = result["msg"]
    assert "frps' own 404 page" in msg
    assert "no working proxy for the Host 'llm.local'" in msg  # as frps matches it: lower case, no port
    for hint in ("On spark (the frpc host) check `systemctl status frpc`", "journalctl -u frpc", "customDomains",
                 "health check", "curl http://127.0.0.1:4000/v1/models"):
        assert hint in msg
    assert server.requests[0].headers["host"] == "LLM.Local:8081"


def test_frp_no_proxy_dashboard_says_online(run_module, scripted):
    api = scripted(lambda req, srv: frp_404_response())
    dash = scripted(dashboard_responder("frps-0.65.0-api-proxy-http-online.json"))
    failed, result = run_module(args_for(api.url, frps_dashboard_url=dash.url, frps_dashboard_user=DASH_USER,
                                         frps_dashboard_password=DASH_PASSWORD))
    assert failed and result["diagnosis"] == "frp_no_proxy"
    assert "Proxy 'llm' is ONLINE for 'llm.local'" in result["msg"]
    assert "frpc could not reach the local service" in result["msg"]
    names = {p["name"]: p for p in result["frps_proxies"]}
    assert names["llm"]["status"] == "online" and names["llm"]["custom_domains"] == ["llm.local"]
    assert names["hc"]["status"] == "offline" and names["hc"]["custom_domains"] is None
    assert dash.requests[0].path == "/api/proxy/http"


def test_frp_no_proxy_dashboard_says_offline(run_module, scripted):
    api = scripted(lambda req, srv: frp_404_response())
    dash = scripted(dashboard_responder("frps-0.65.0-api-proxy-http-offline.json"))
    failed, result = run_module(args_for(api.url, frps_dashboard_url=dash.url, frps_dashboard_user=DASH_USER,
                                         frps_dashboard_password=DASH_PASSWORD, frps_proxy_name="llm",
                                         context=CONTEXT))
    assert failed and result["diagnosis"] == "frp_no_proxy"
    assert "Proxy 'llm' is OFFLINE at frps" in result["msg"]
    assert "closed 11-26 02:02:41" in result["msg"]
    assert "`journalctl -u frpc` on spark (the frpc host)" in result["msg"]
    assert all(p["status"] == "offline" for p in result["frps_proxies"])


def test_frp_no_proxy_dashboard_has_no_proxy_for_host(run_module, scripted):
    api = scripted(lambda req, srv: frp_404_response())
    dash = scripted(dashboard_responder("frps-0.65.0-api-proxy-http-online.json"))
    failed, result = run_module(args_for(api.url, host_header="llm.home", frps_dashboard_url=dash.url,
                                         frps_dashboard_user=DASH_USER, frps_dashboard_password=DASH_PASSWORD))
    assert failed and result["diagnosis"] == "frp_no_proxy"
    assert "no online http proxy with customDomains containing 'llm.home'" in result["msg"]
    assert "Online proxies serve: down.local, llm.local." in result["msg"]
    assert "Offline proxies (frps does not report their domains): hc" in result["msg"]


def test_dashboard_wrong_password_does_not_hide_the_diagnosis(run_module, scripted):
    api = scripted(lambda req, srv: frp_404_response())
    dash = scripted(dashboard_responder("frps-0.65.0-api-proxy-http-online.json"))
    failed, result = run_module(args_for(api.url, frps_dashboard_url=dash.url, frps_dashboard_user=DASH_USER,
                                         frps_dashboard_password="not-" + DASH_PASSWORD))
    assert failed and result["diagnosis"] == "frp_no_proxy"
    assert result["frps_proxies"] is None
    assert "answered 401" in result["msg"] and "webServer.user/password" in result["msg"]


def test_dashboard_note_on_success(run_module, fake_api, scripted):
    dash = scripted(dashboard_responder("frps-0.65.0-api-proxy-http-online.json"))
    failed, result = run_module(args_for(fake_api.url, frps_dashboard_url=dash.url, frps_dashboard_user=DASH_USER,
                                         frps_dashboard_password=DASH_PASSWORD))
    assert not failed
    assert "frps dashboard: proxy 'llm' is online (2 of 3 http proxies online)." in result["message"]


# --- HTTP errors -------------------------------------------------------------------------------

def test_api_key_rejected(run_module, fake_api):
    failed, result = run_module(args_for(fake_api.url, api_key="sk-wrong-key-0000"))
    assert failed
    assert result["diagnosis"] == "api_key_rejected"
    assert result["status"] == 401
    assert "API key was rejected" in result["msg"]
    assert "master key (general_settings.master_key)" in result["msg"]
    assert "basic auth" in result["msg"] and "httpUser" in result["msg"]
    assert "Invalid proxy server token passed" in result["msg"]  # the body excerpt
    assert fake_api.stats["unauthorized"] >= 1


def test_api_key_missing(run_module, fake_api):
    failed, result = run_module({"url": fake_api.url})
    assert failed
    assert result["diagnosis"] == "api_key_missing" and result["status"] == 401
    assert "none was sent" in result["msg"] and "No api key passed" in result["msg"]


def test_api_key_echoed_by_server_is_redacted_before_truncation(run_module, scripted):
    # A body that echoes the key right where the 200-character excerpt ends: cut first, the
    # key's head would escape Ansible's no_log mask, which only matches the whole value.
    body = '{"error":{"message":"%s Received API Key = %s"}}' % ("x" * 150, API_KEY)
    server = scripted(lambda req, srv: simple_response("401 Unauthorized", body))
    failed, result = run_module(args_for(server.url))
    assert failed and result["diagnosis"] == "api_key_rejected"
    assert "Received API Key = ********" in result["msg"]


def test_gateway_timeout(run_module, scripted):
    server = scripted(lambda req, srv: frp_504_response())
    failed, result = run_module(args_for(server.url, context=CONTEXT))
    assert failed
    assert result["diagnosis"] == "gateway_timeout"
    assert result["status"] == 504
    assert "raise vhostHTTPTimeout in frps.toml on minipc (the frps host)" in result["msg"]


def test_upstream_error_reports_status_and_200_chars_of_body(run_module, scripted):
    prefix = '{"error":"vLLM engine dead: '
    body = prefix + "E" * 300 + '"}'
    server = scripted(lambda req, srv: simple_response("500 Internal Server Error", body))
    failed, result = run_module(args_for(server.url))
    assert failed
    assert result["diagnosis"] == "upstream_error"
    assert result["status"] == 500
    assert "answered HTTP 500" in result["msg"]
    assert ("Body: " + prefix + "E" * (200 - len(prefix)) + "...") in result["msg"]
    assert "E" * (200 - len(prefix) + 1) not in result["msg"]


def test_plain_404_is_not_taken_for_frp(run_module, scripted):
    server = scripted(lambda req, srv: simple_response("404 Not Found", '{"detail":"Not Found"}'))
    failed, result = run_module(args_for(server.url))
    assert failed
    assert result["diagnosis"] == "upstream_error" and result["status"] == 404
    assert "not frps' page" in result["msg"]


def test_redirect_is_reported_not_followed(run_module, scripted):
    server = scripted(lambda req, srv: simple_response("301 Moved Permanently", "", extra=b"Location: https://elsewhere.example/v1/models\r\n"))
    failed, result = run_module(args_for(server.url))
    assert failed
    assert result["diagnosis"] == "upstream_error" and result["status"] == 301
    assert "redirect to https://elsewhere.example/v1/models" in result["msg"]
    assert len(server.requests) == 1


def test_not_openai_models(run_module, scripted):
    server = scripted(lambda req, srv: simple_response("200 OK", "<html><body>Router login</body></html>",
                                                       "text/html"))
    failed, result = run_module(args_for(server.url))
    assert failed
    assert result["diagnosis"] == "not_openai_models"
    assert result["status"] == 200 and result["models"] == []
    assert "not an OpenAI model list" in result["msg"] and "Router login" in result["msg"]


def test_expected_model_missing(run_module, fake_api):
    failed, result = run_module(args_for(fake_api.url, expected_models=[MODEL, "meta/llama-4"]))
    assert failed
    assert result["diagnosis"] == "expected_model_missing"
    assert result["status"] == 200
    assert result["models"] == [MODEL, "other/small-model"]
    assert result["missing_models"] == ["meta/llama-4"]
    assert "meta/llama-4" in result["msg"]
    assert "It serves: %s, other/small-model." % MODEL in result["msg"]


def test_bad_parameters_fail_early(run_module):
    failed, result = run_module({"url": "110.13.119.7:8081"})
    assert failed and "must be an http:// or https:// URL" in result["msg"]
    failed, result = run_module({"url": "http://127.0.0.1:1", "timeout": 0})
    assert failed and "timeout must be greater than 0" in result["msg"]


# --- waiting for the tunnel ----------------------------------------------------------------------

def test_wait_until_the_upstream_appears(run_module, closed_port):
    started = {}

    def bring_up():
        time.sleep(1.2)
        server = fake_openai.start_in_thread(port=closed_port, api_keys=[API_KEY], models=[MODEL])
        started["server"] = server
        started["at"] = time.monotonic()

    threading.Thread(target=bring_up, daemon=True).start()
    begin = time.monotonic()
    try:
        failed, result = run_module(args_for("http://127.0.0.1:%d" % closed_port, wait_timeout=20, delay=0.3))
    finally:
        if "server" in started:
            started["server"].shutdown()
            started["server"].server_close()
    assert not failed
    assert result["diagnosis"] == "ok"
    assert result["attempts"] >= 2  # refused for the first ~1.2 s
    assert "Up after %d attempts." % result["attempts"] in result["message"]
    assert time.monotonic() - begin < 15  # stopped once it was up, well before wait_timeout


def test_wait_gives_up_on_a_persistent_frp_404(run_module, scripted):
    server = scripted(lambda req, srv: frp_404_response())
    begin = time.monotonic()
    failed, result = run_module(args_for(server.url, wait_timeout=1, delay=0.3))
    elapsed = time.monotonic() - begin
    assert failed and result["diagnosis"] == "frp_no_proxy"
    assert result["attempts"] >= 2 and len(server.requests) == result["attempts"]
    assert "still failing after %d attempts" % result["attempts"] in result["msg"]
    # It stops only when another delay would pass wait_timeout: after at least 1 - 0.3 s.
    assert elapsed >= 0.7


def test_wait_retries_502_then_succeeds(run_module, scripted):
    def respond(request, server):
        if len(server.requests) < 3:
            return simple_response("502 Bad Gateway", "upstream connect error")
        return simple_response("200 OK", models_body(MODEL))

    server = scripted(respond)
    failed, result = run_module(args_for(server.url, wait_timeout=5, delay=0.1))
    assert not failed and result["attempts"] == 3


def test_no_retry_on_rejected_key(run_module, fake_api):
    failed, result = run_module(args_for(fake_api.url, api_key="sk-wrong", wait_timeout=10, delay=0.5))
    assert failed and result["diagnosis"] == "api_key_rejected"
    assert result["attempts"] == 1


def test_no_retry_on_wrong_body(run_module, scripted):
    server = scripted(lambda req, srv: simple_response("200 OK", '{"models": []}'))
    failed, result = run_module(args_for(server.url, wait_timeout=10, delay=0.5))
    assert failed and result["diagnosis"] == "not_openai_models"
    assert result["attempts"] == 1 and len(server.requests) == 1


# --- chat smoke test ---------------------------------------------------------------------------

def test_chat_stream_measures_ttft_and_chunks(run_module, fake_api):
    failed, result = run_module(args_for(fake_api.url, chat_model=MODEL))
    assert not failed
    chat = result["chat"]
    assert result["diagnosis"] == "ok"
    assert chat["status"] == 200 and chat["stream"] is True and chat["done"] is True
    # The fake sends a role chunk, 6 content chunks 30 ms apart and a final chunk.
    assert chat["content_chunks"] == 6
    assert chat["chunks"] == 8
    assert chat["content"] == "pong token1 token2 token3 token4 token5"
    assert chat["finish_reason"] == "stop"
    # Behaviour, not timings (the machine may be busy): the measurements exist and are ordered, and the
    # whole stream took at least the server's five 30 ms pauses.
    assert 0 < chat["ttft_ms"] <= chat["total_ms"]
    assert chat["total_ms"] >= 5 * 30
    assert chat["max_gap_ms"] >= 0
    assert "first token after" in result["message"] and "8 chunks" in result["message"]


def test_chat_stream_first_token_comes_before_the_stream_ends(run_module, scripted):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

    def chunk(data):
        return b"%x\r\n%s\r\n" % (len(data), data)

    first = b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"po"}}]}\n\n'
    rest = (b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"ng"},'
            b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    # The rest comes 1.5 s after the first token: a tunnel that buffered the stream would hold both.
    server = scripted(models_then([(head + chunk(first), 0), (chunk(rest) + b"0\r\n\r\n", 1.5)]))
    failed, result = run_module(args_for(server.url, chat_model=MODEL))
    assert not failed
    chat = result["chat"]
    assert chat["content"] == "pong" and chat["done"] is True
    assert chat["ttft_ms"] + 500 < chat["total_ms"]
    assert chat["max_gap_ms"] >= 1000


def test_chat_stream_honours_max_tokens(run_module, fake_api):
    failed, result = run_module(args_for(fake_api.url, chat_model=MODEL, chat_max_tokens=3))
    assert not failed
    assert result["chat"]["content_chunks"] == 3
    assert result["chat"]["content"] == "pong token1 token2"
    assert result["chat"]["finish_reason"] == "length"


def test_chat_without_stream(run_module, fake_api):
    failed, result = run_module(args_for(fake_api.url, chat_model=MODEL, chat_stream=False))
    assert not failed
    chat = result["chat"]
    assert chat["stream"] is False and chat["chunks"] == 0 and chat["ttft_ms"] is None
    assert chat["content"] == "pong token1 token2 token3 token4 token5"
    assert "(not streamed)" in result["message"]


def test_chat_rejected_for_unknown_model(run_module, fake_api):
    failed, result = run_module(args_for(fake_api.url, chat_model="nope/model"))
    assert failed
    assert result["diagnosis"] == "chat_rejected"
    assert result["status"] == 200 and result["chat"]["status"] == 400
    assert "Models OK" in result["msg"] and "Invalid model name" in result["msg"]


def test_chat_stream_cut_midway(run_module, scripted):
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")

    def event(text):
        data = ('data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n'
                % text).encode()
        return b"%x\r\n%s\r\n" % (len(data), data)

    # Three events, then the connection drops without the last chunk: what frps' cut streams look like.
    server = scripted(models_then([(head + event("a"), 0), (event("b"), 0.02), (event("c"), 0.02), (None, 0.02)]))
    failed, result = run_module(args_for(server.url, chat_model=MODEL))
    assert failed
    assert result["diagnosis"] == "chat_stream_incomplete"
    assert result["chat"]["chunks"] == 3 and result["chat"]["content"] == "abc"
    assert result["chat"]["done"] is False
    assert "cut before data: [DONE]" in result["msg"]


def test_chat_stream_without_done_event(run_module, scripted):
    data = b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    server = scripted(models_then(simple_response("200 OK", data, "text/event-stream")))
    failed, result = run_module(args_for(server.url, chat_model=MODEL))
    assert failed and result["diagnosis"] == "chat_stream_incomplete"
    assert "without data: [DONE]" in result["msg"]


def test_chat_gateway_timeout(run_module, scripted):
    server = scripted(models_then(frp_504_response()))
    failed, result = run_module(args_for(server.url, chat_model=MODEL, chat_stream=False))
    assert failed and result["diagnosis"] == "gateway_timeout"
    assert result["chat"]["status"] == 504
    assert "POST /v1/chat/completions" in result["msg"] and "vhostHTTPTimeout" in result["msg"]


def test_chat_bad_response(run_module, scripted):
    server = scripted(models_then(simple_response("200 OK", "data: not json\n\n", "text/event-stream")))
    failed, result = run_module(args_for(server.url, chat_model=MODEL))
    assert failed and result["diagnosis"] == "chat_bad_response"
    assert "not JSON" in result["msg"]


# --- helpers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("host, expected", [
    ("llm.local", "llm.local"),
    ("LLM.Local:8081", "llm.local"),
    ("[::1]:8081", "::1"),
    ("", ""),
])
def test_frp_route_host(host, expected):
    assert llm_probe_frps.frp_route_host(host) == expected


@pytest.mark.parametrize("base, expected", [
    ("http://h:8081", "http://h:8081/v1/models"),
    ("http://h:8081/", "http://h:8081/v1/models"),
    ("http://h:8081/v1", "http://h:8081/v1/models"),
    ("https://h/llm/v1/", "https://h/llm/v1/models"),
])
def test_models_url(base, expected):
    assert llm_probe_openai.models_url(base) == expected
    assert llm_probe_openai.chat_url(base) == expected[:-len("models")] + "chat/completions"


def test_sse_parser_handles_comments_multiline_and_missing_final_blank():
    lines = iter([b": keep-alive\n", b"event: message\n", b"data: {\"a\":\n", b"data: 1}\n", b"\n",
                  b"data:[DONE]\r\n"])
    assert list(llm_probe_openai.iter_sse_data(lambda: next(lines, b""))) == ['{"a":\n1}', "[DONE]"]


@pytest.mark.parametrize("context", [None, CONTEXT], ids=["neutral", "context"])
@pytest.mark.parametrize("code", sorted(llm_probe_diagnoses.DIAGNOSES))
def test_every_diagnosis_has_a_message(code, context):
    hints = llm_probe_diagnoses.Hints(context)
    text = llm_probe_diagnoses.explain(code, "http://192.0.2.1:9999/v1/models", "llm.local", status=500,
                                       detail="detail", body=b'{"error": "x"}', secrets=(API_KEY,), timeout=1,
                                       models=["m"], missing=["x"], hints=hints)
    assert "failed (%s)" % code not in text  # its own text, not the generic fallback
    assert "{" not in text.replace('{"', "").replace("{{", "")  # every template field was filled
    # module_utils is generic: no port, address or role variable of this collection's deployment.
    if context is None:
        for specific in ("4000", "8081", "7000", "frps_server_", "frpc_client_", "minipc", "spark"):
            assert specific not in text


def test_transient_diagnoses_are_the_documented_ones():
    transient = sorted(c for c, d in llm_probe_diagnoses.DIAGNOSES.items() if d.transient)
    assert transient == ["connection_closed", "connection_refused", "connection_reset", "frp_no_proxy",
                         "gateway_timeout"]
