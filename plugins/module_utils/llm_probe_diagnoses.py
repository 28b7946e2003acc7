# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every outcome lisyoen.frp.llm_api_probe can report, and the message that says what to check.

DIAGNOSES is the one list of codes: the module's RETURN documentation and README.md's
Troubleshooting table must list exactly these (tests/unit/test_docs.py checks both).

Messages name hosts, ports and commands from the module's `context` option (Hints below) and fall
back to neutral wording ("the frps host") when a hint is not given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.parse import urlsplit

from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_frps import frp_route_host
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_http import excerpt, redact


class Diagnosis(object):
    """One outcome: what it means, whether waiting for the tunnel can fix it, and its message.

    The message is a str.format() template; explain() lists the fields it can use.
    """

    def __init__(self, meaning, message, transient=False):
        self.meaning = meaning
        self.message = message
        self.transient = transient


_TCP_PROXY = 'Through an frp tcp proxy, '

DIAGNOSES = {
    'ok': Diagnosis(
        'the API answered and everything expected was there',
        '{step}: {where} answered {status}.'),
    # --- no HTTP answer -------------------------------------------------------------------------
    'connection_refused': Diagnosis(
        "nothing listens on the URL's address and port",
        '{step}: connection refused by {host}:{port}: nothing listens there. ' + _TCP_PROXY
        + 'frps opens that port only while frpc is connected and its proxy registered: on {client} check '
        '`systemctl status frpc` and `journalctl -u frpc` (token mismatch, wrong server address). Otherwise '
        'frps is down or not on that port, a firewall rejects it, or the address or port in url is wrong: '
        'on {server} check `systemctl status frps` and `ss -ltnp | grep {port}`.',
        transient=True),
    'connection_timeout': Diagnosis(
        'the TCP connection could not be opened in time',
        '{step}: could not connect to {host}:{port} within {timeout} s. A firewall or router drops the '
        'packets, the public address changed, or the host is off. Check the address in url, port '
        'forwarding on the router and the firewall on {server}.'),
    'connection_reset': Diagnosis(
        'the connection was reset while sending the request',
        '{step}: the connection to {where} was reset ({detail}): frps restarted or something between '
        'drops the connection. ' + _TCP_PROXY + 'a port forwarder in front of frps (a router, Docker) also '
        'resets it while frpc is not connected: on {client} check `systemctl status frpc` and '
        '`journalctl -u frpc`.',
        transient=True),
    'connection_closed': Diagnosis(
        'the server closed the connection without an HTTP answer',
        '{step}: {where} closed the connection without an HTTP answer ({detail}). ' + _TCP_PROXY
        + 'this is how frpc reports that it cannot reach the local API: on {client} check {api_check} and '
        '`journalctl -u frpc`. Or url points at frps\' control port ({control_port}) instead of the port '
        'that serves the API, or at a non-HTTP service.',
        transient=True),
    'connection_error': Diagnosis(
        'another network error (no route to host, proxy error, ...)',
        '{step}: could not reach {where} ({detail}). Check the network route to {host}, and any HTTP '
        'proxy from the environment (use_proxy=false bypasses it).'),
    'dns_failure': Diagnosis(
        'the host name in the URL does not resolve',
        '{step}: the host name {host} does not resolve ({detail}). Check url.'),
    'tls_untrusted': Diagnosis(
        "the server's certificate could not be verified",
        "{step}: the certificate of {where} could not be verified ({detail}). If a private CA signed it "
        "(a self-signed front end, for one), pass that CA's certificate bundle as ca_path; check that the "
        "host name in url is one the certificate names. validate_certs=false skips the check."),
    'tls_error': Diagnosis(
        'the TLS handshake failed for another reason',
        '{step}: TLS failed for {where} ({detail}). Check that url uses https:// only where TLS is '
        'served and http:// for a plain HTTP port (such as frps\' vhost port), and the TLS settings of '
        'the server.'),
    'read_timeout': Diagnosis(
        'connected, but no complete answer arrived within the timeout',
        '{step}: {where} accepted the connection but gave no answer within {timeout} s ({detail}). The '
        'API is slow or hung behind the tunnel: raise timeout, or check the API on {client}.'),
    # --- an HTTP answer that is an error --------------------------------------------------------
    'frp_no_proxy': Diagnosis(
        "frps answered its own 404 page: no working proxy for the Host header",
        "{step}: {where} answered frps' own 404 page: frps has no working proxy for the Host "
        "'{route_host}'. frps gives this same page when frpc is not connected or never registered the "
        "proxy, when the proxy's customDomains do not match host_header, and when frpc cannot reach the "
        "local API or its health check failed. On {client} check `systemctl status frpc` and "
        "`journalctl -u frpc`, that customDomains in frpc.toml contains '{route_host}', and {api_check}."
        "{dashboard}",
        transient=True),
    'api_key_rejected': Diagnosis(
        'the API refused the key that was sent (401, 403, or an authentication error in a 400/500)',
        '{step}: {where} answered {status}: the API key was rejected. Check that api_key is the key the '
        'API expects: for LiteLLM, its master key (general_settings.master_key) or a virtual key; LiteLLM '
        'without a database takes no other key than the master key and answers any other with 400 "No '
        'connected db.". Check also that nothing on the path does HTTP basic auth (frp httpUser/'
        'httpPassword take over the Authorization header and break Bearer keys). Body: {body}'),
    'api_key_missing': Diagnosis(
        'no api_key was given and the API asks for one',
        '{step}: {where} answered {status}: the API wants a key and none was sent. Set api_key (for '
        'LiteLLM: its master key, general_settings.master_key, or a virtual key). Body: {body}'),
    'gateway_timeout': Diagnosis(
        'frps answered 504: the upstream was slower than vhostHTTPTimeout',
        "{step}: {where} answered 504 Gateway Timeout: frps waited longer than its vhostHTTPTimeout (60 s "
        "by default) for the upstream's response headers. The API is overloaded or hung, or a "
        "non-streaming completion takes longer than that: raise vhostHTTPTimeout in frps.toml on {server}, "
        "or stream.",
        transient=True),
    'upstream_error': Diagnosis(
        'any other HTTP error status',
        '{step}: {where} answered HTTP {status}{note}. Body: {body}'),
    # --- a 2xx answer that is not what was expected ----------------------------------------------
    'not_openai_models': Diagnosis(
        'the body is not an OpenAI model list',
        '{step}: {where} answered {status} but the body is not an OpenAI model list ({{"object": "list", '
        '"data": [{{"id": ...}}]}}). Something other than the LLM API answers on this Host. Body: {body}'),
    'expected_model_missing': Diagnosis(
        'the model list lacks an expected model',
        "{step}: {where} does not list the expected model(s) {missing}. It serves: {models}. Check the "
        "API's model list (LiteLLM's model_list) and that the model server loaded the model."),
    # --- the chat smoke test --------------------------------------------------------------------
    'chat_rejected': Diagnosis(
        'the API refused the chat completion request itself (a 4xx that is not about the key)',
        '{step}: {where} refused the chat completion with HTTP {status}{note}. Check chat_model against '
        'the served models. Body: {body}'),
    'chat_bad_response': Diagnosis(
        'the chat answer is not an OpenAI chat completion or event stream',
        '{step}: {where} did not answer an OpenAI chat completion: {detail}'),
    'chat_stream_incomplete': Diagnosis(
        'the chat stream ended before its final [DONE] event',
        '{step}: the stream from {where} was cut before data: [DONE] ({detail}). Something on the path '
        'closed it: frps/frpc restarts, a proxy buffering or timing out streams, or the API crashed '
        'mid-answer.'),
}


def is_transient(diagnosis):
    """True for an outcome a tunnel that is still coming up shows; waiting will not fix the others."""
    entry = DIAGNOSES.get(diagnosis)
    return bool(entry and entry.transient)


class Hints(object):
    """Phrases for messages from the module's `context` option; neutral wording for what is missing.

    context keys: server_host (runs frps), client_host (runs frpc and reaches the API), control_port
    (frps' bindPort), api_local (the API's address as frpc reaches it, e.g. 127.0.0.1:4000).
    """

    def __init__(self, context=None):
        context = context or {}
        server, client = context.get('server_host'), context.get('client_host')
        self.server = '%s (the frps host)' % server if server else 'the frps host'
        self.client = '%s (the frpc host)' % client if client else 'the frpc host'
        port = context.get('control_port')
        self.control_port = 'bindPort, %s' % port if port else 'bindPort'
        api = context.get('api_local')
        if api:
            base = api if '://' in api else 'http://' + api
            self.api_check = 'that `curl %s/v1/models` answers' % base.rstrip('/')
        else:
            self.api_check = "that the API answers at the proxy's localIP and localPort"

    def fields(self):
        return dict(server=self.server, client=self.client, control_port=self.control_port,
                    api_check=self.api_check)


def explain(diagnosis, url, host_header='', status=None, detail=None, body=b'', secrets=(), timeout=None,
            models=(), missing=(), dashboard_text=None, step='GET /v1/models', hints=None):
    """The message for a failed step: what is wrong, then what to check. Secrets are blanked out.

    Template fields: step, where (url and Host), host, port, status, detail, note (" (detail)" or ""),
    body (an excerpt), timeout, route_host, models, missing, dashboard, and Hints.fields().
    """
    parsed = urlsplit(url)
    fields = (hints or Hints()).fields()
    fields.update(
        step=step,
        where='%s (Host: %s)' % (url, host_header) if host_header else url,
        host=parsed.hostname,
        port=parsed.port or (443 if parsed.scheme == 'https' else 80),
        status=status,
        detail=detail,
        note=' (%s)' % detail if detail else '',
        body=excerpt(body, secrets) or '(empty)',
        timeout=timeout,
        route_host=frp_route_host(host_header or parsed.netloc),
        models=', '.join(models) or 'no models',
        missing=', '.join(missing),
        dashboard=' ' + dashboard_text if dashboard_text else '',
    )
    entry = DIAGNOSES.get(diagnosis)
    if entry is None:
        return redact('%s: %s failed (%s): %s' % (step, fields['where'], diagnosis, detail), secrets)
    return redact(entry.message.format(**fields), secrets)
