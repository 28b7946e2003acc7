# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe an OpenAI-compatible API through an frp http vhost and say what is wrong when it fails.

Shared by the lisyoen.frp.llm_api_probe module and its tests. Kept free of AnsibleModule so the
logic can be exercised on its own; every HTTP call goes through ansible.module_utils.urls.open_url.

frp makes failures ambiguous: frps answers the same 404 page when no proxy matches the Host header,
when frpc cannot reach the local service and after a failed health check unregistered the proxy;
only a slow upstream (longer than vhostHTTPTimeout) yields a distinct answer, 504 with an empty body.
The helpers here turn what the client can see into a stable diagnosis code and a message that says
what to check, and can ask the frps dashboard which proxies are online to narrow a 404 down.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import http.client as http_client
import json
import socket
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit, urlunsplit

from ansible.module_utils.urls import Request, SSLValidationError, make_context

# Python 3.10 made socket.timeout an alias of TimeoutError; remote targets may be older.
_TIMEOUTS = (socket.timeout, TimeoutError)

USER_AGENT = 'lisyoen.frp.llm_api_probe'
EXCERPT_CHARS = 200
MAX_BODY_BYTES = 1024 * 1024

# Every diagnosis code the probe can return, with a one-line meaning (also used in the docs).
DIAGNOSES = {
    'ok': 'the API answered and everything expected was there',
    'connection_refused': 'nothing listens on the URL\'s address and port',
    'connection_timeout': 'the TCP connection could not be opened in time',
    'connection_reset': 'the connection was reset while sending the request',
    'connection_closed': 'the server closed the connection without an HTTP answer',
    'connection_error': 'another network error (no route to host, proxy error, ...)',
    'dns_failure': 'the host name in the URL does not resolve',
    'tls_error': 'the TLS handshake or certificate validation failed',
    'read_timeout': 'connected, but no complete answer arrived within the timeout',
    'frp_no_proxy': "frps answered its own 404 page: no working proxy for the Host header",
    'api_key_rejected': 'the API answered 401 or 403',
    'gateway_timeout': 'frps answered 504: the upstream was slower than vhostHTTPTimeout',
    'upstream_error': 'any other HTTP error status',
    'not_openai_models': 'the body is not an OpenAI model list',
    'expected_model_missing': 'the model list lacks an expected model',
    'chat_rejected': 'the chat completion request was refused (4xx other than 401/403)',
    'chat_bad_response': 'the chat answer is not an OpenAI chat completion or event stream',
    'chat_stream_incomplete': 'the chat stream ended before its final [DONE] event',
}

# A tunnel that is still coming up shows exactly these; anything else will not fix itself by waiting.
# connection_closed: through a tcp proxy, the API port accepts while frpc cannot reach the API yet.
TRANSIENT_DIAGNOSES = frozenset(['connection_refused', 'connection_reset', 'connection_closed', 'frp_no_proxy',
                                 'gateway_timeout'])
TRANSIENT_STATUSES = frozenset([502, 503])

# Text of frps' built-in not-found page (pkg/util/vhost/resource.go), checked against frps 0.65.0.
_FRP_404_MARKERS = (b'The page you requested was not found.', b'github.com/fatedier/frp')


class Reply(object):
    """What one HTTP exchange produced: an HTTP status and body, or a transport-level failure."""

    def __init__(self, status=None, headers=None, body=b'', elapsed_ms=None, error=None, reason=None):
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.elapsed_ms = elapsed_ms
        self.error = error      # a diagnosis code when no HTTP answer arrived
        self.reason = reason    # the underlying error text for that case


def ms_since(start):
    return round((time.monotonic() - start) * 1000.0, 1)


def is_frp_not_found_page(status, body):
    """True for the page frps serves when it has no working proxy for a request's Host."""
    if status != 404 or not body:
        return False
    if not isinstance(body, bytes):
        body = body.encode('utf-8', 'replace')
    return all(marker in body for marker in _FRP_404_MARKERS)


def frp_route_host(host):
    """The Host as frps matches it against customDomains: port stripped, lower-cased."""
    host = (host or '').strip()
    if host.startswith('['):
        host = host[1:host.find(']')] if ']' in host else host
    elif host.count(':') == 1:
        host = host.split(':', 1)[0]
    return host.lower()


def models_url(base_url):
    """<base>/v1/models, accepting a base with or without the /v1 that OpenAI clients put in base_url."""
    parts = urlsplit(base_url.strip())
    path = parts.path.rstrip('/')
    if not path.endswith('/v1'):
        path += '/v1'
    return urlunsplit((parts.scheme, parts.netloc, path + '/models', '', ''))


def chat_url(base_url):
    return models_url(base_url)[:-len('/models')] + '/chat/completions'


def redact(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, '********')
    return text


def excerpt(body, secrets=(), limit=EXCERPT_CHARS):
    """The first `limit` characters of a body on one line, with any secret blanked out."""
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    text = ' '.join((body or '').split())
    text = redact(text, secrets)
    return text[:limit] + ('...' if len(text) > limit else '')


def classify_exception(exc):
    """Map a transport exception to (diagnosis, reason text)."""
    # Order matters: RemoteDisconnected is also a ConnectionResetError, and URLError wraps the cause.
    if isinstance(exc, SSLValidationError):
        return 'tls_error', str(exc)
    if isinstance(exc, URLError):
        reason = exc.reason
        if isinstance(reason, BaseException):
            diagnosis, text = classify_exception(reason)
            # A timeout raised before the request was sent means the connection never opened.
            if diagnosis == 'read_timeout':
                diagnosis = 'connection_timeout'
            return diagnosis, text
        return 'connection_error', str(reason)
    if isinstance(exc, http_client.RemoteDisconnected):
        return 'connection_closed', str(exc) or 'the server closed the connection without answering'
    if isinstance(exc, ConnectionRefusedError):
        return 'connection_refused', str(exc)
    if isinstance(exc, ConnectionResetError):
        return 'connection_reset', str(exc)
    if isinstance(exc, socket.gaierror):
        return 'dns_failure', str(exc)
    if isinstance(exc, ssl.SSLError):  # certificate errors included
        return 'tls_error', str(exc)
    if isinstance(exc, _TIMEOUTS):
        return 'read_timeout', str(exc) or 'timed out'
    if isinstance(exc, http_client.IncompleteRead):
        return 'connection_closed', 'the body ended early (%d bytes read)' % len(exc.partial)
    if isinstance(exc, http_client.HTTPException):
        return 'connection_closed', '%s: %s' % (type(exc).__name__, exc)
    # No route to host, a proxy that fails (ansible's ConnectionError), anything else.
    return 'connection_error', '%s: %s' % (type(exc).__name__, exc)


def _lower_keys(headers):
    return dict((k.lower(), v) for k, v in (headers or {}).items())


_CONTEXTS = {}


def _tls_context(url, validate_certs):
    """An SSL context made once per process and outside the timed section.

    ansible's open_url builds a fresh one per request, loading the CA store (~20 ms), even for plain
    http where it is never used; that would swamp the tunnel latency this probe reports.
    """
    key = (urlsplit(url).scheme == 'https', bool(validate_certs))
    if key not in _CONTEXTS:
        if key[0]:
            _CONTEXTS[key] = make_context(validate_certs=validate_certs)
        else:
            _CONTEXTS[key] = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return _CONTEXTS[key]


def _read_limited(response):
    return response.read(MAX_BODY_BYTES)


def http_call(url, method='GET', headers=None, data=None, timeout=10, validate_certs=True, use_proxy=True,
              stream=False):
    """Send one request; return (Reply, open response or None).

    With stream=True and a 2xx answer the response is returned unread for the caller to consume;
    otherwise the body is read into the Reply. HTTP error statuses are replies, not exceptions.
    """
    context = _tls_context(url, validate_certs)
    start = time.monotonic()
    response = None
    try:
        response = Request().open(
            method, url, data=data, headers=headers or {}, timeout=timeout, context=context,
            validate_certs=validate_certs, use_proxy=use_proxy, http_agent=USER_AGENT,
            # A redirect would carry our Host header to another server; report it instead.
            follow_redirects='none',
            # ~/.netrc credentials would replace the Bearer header with basic auth.
            use_netrc=False,
            decompress=not stream,
        )
    except HTTPError as exc:
        try:
            body = _read_limited(exc)
        except Exception:  # the error body is best effort; the status alone is informative
            body = b''
        return Reply(status=exc.code, headers=_lower_keys(exc.headers), body=body,
                     elapsed_ms=ms_since(start)), None
    except Exception as exc:  # every transport failure becomes a diagnosis
        diagnosis, reason = classify_exception(exc)
        return Reply(error=diagnosis, reason=reason, elapsed_ms=ms_since(start)), None
    status = response.getcode()
    reply = Reply(status=status, headers=_lower_keys(response.headers))
    if stream:
        reply.elapsed_ms = ms_since(start)
        return reply, response
    try:
        reply.body = _read_limited(response)
    except Exception as exc:
        reply.error, reply.reason = classify_exception(exc)
    finally:
        response.close()
    reply.elapsed_ms = ms_since(start)
    return reply, None


def api_headers(host_header, api_key, accept='application/json'):
    headers = {'Accept': accept}
    if host_header:
        headers['Host'] = host_header
    if api_key:
        headers['Authorization'] = 'Bearer %s' % api_key
    return headers


def parse_models(body):
    """Model ids from an OpenAI list body, or None when the body is not one."""
    try:
        if isinstance(body, bytes):
            body = body.decode('utf-8')
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get('data'), list):
        return None
    ids = []
    for item in doc['data']:
        if not isinstance(item, dict) or not isinstance(item.get('id'), str):
            return None
        ids.append(item['id'])
    return ids


def classify_status(status, body):
    """Diagnosis for an HTTP answer that is not a 2xx."""
    if is_frp_not_found_page(status, body):
        return 'frp_no_proxy'
    if status in (401, 403):
        return 'api_key_rejected'
    if status == 504:
        return 'gateway_timeout'
    return 'upstream_error'


def is_transient(diagnosis, status=None):
    if diagnosis in TRANSIENT_DIAGNOSES:
        return True
    return diagnosis == 'upstream_error' and status in TRANSIENT_STATUSES


def probe_models(base_url, host_header='', api_key='', expected_models=(), timeout=10, validate_certs=True,
                 use_proxy=True):
    """One GET /v1/models. Returns a dict: status, models, latency_ms, diagnosis, detail, body."""
    reply = http_call(models_url(base_url), headers=api_headers(host_header, api_key), timeout=timeout,
                      validate_certs=validate_certs, use_proxy=use_proxy)[0]
    result = {'status': reply.status, 'models': [], 'missing': [], 'latency_ms': reply.elapsed_ms,
              'detail': reply.reason, 'body': reply.body}
    if reply.error:
        result['diagnosis'] = reply.error
        return result
    if not 200 <= reply.status < 300:
        result['diagnosis'] = classify_status(reply.status, reply.body)
        if 300 <= reply.status < 400:
            result['detail'] = 'redirect to %s; point url at the final address' % reply.headers.get('location', '?')
        return result
    models = parse_models(reply.body)
    if models is None:
        result['diagnosis'] = 'not_openai_models'
        return result
    result['models'] = models
    missing = [m for m in expected_models if m not in models]
    result['missing'] = missing
    result['diagnosis'] = 'expected_model_missing' if missing else 'ok'
    return result


def probe_models_until(deadline_s, delay_s, sleep=time.sleep, **kwargs):
    """probe_models, repeated while the failure is transient and the deadline allows another try."""
    start = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        result = probe_models(**kwargs)
        result['attempts'] = attempts
        if not is_transient(result['diagnosis'], result['status']):
            return result
        if time.monotonic() - start + delay_s >= deadline_s:
            return result
        sleep(delay_s)


# --- Server-Sent Events -----------------------------------------------------------------------------

def iter_sse_data(readline):
    """Yield the data of each Server-Sent Event read through readline() (bytes lines) until EOF.

    Multi-line data fields are joined with newlines; comments (":") and other fields are skipped.
    """
    data_lines = []
    while True:
        raw = readline()
        if not raw:
            if data_lines:
                yield '\n'.join(data_lines)
            return
        line = raw.decode('utf-8', 'replace').rstrip('\r\n')
        if not line:
            if data_lines:
                yield '\n'.join(data_lines)
                data_lines = []
            continue
        if line.startswith(':'):
            continue
        field, value = line.split(':', 1) if ':' in line else (line, '')
        if value.startswith(' '):
            value = value[1:]
        if field == 'data':
            data_lines.append(value)


def chat_smoke_test(base_url, model, prompt, host_header='', api_key='', stream=True, timeout=120,
                    max_tokens=16, validate_certs=True, use_proxy=True):
    """POST one chat completion and measure it. Returns (diagnosis, chat dict, detail text)."""
    body = {'model': model, 'messages': [{'role': 'user', 'content': prompt}], 'stream': bool(stream)}
    if max_tokens:
        body['max_tokens'] = max_tokens
    headers = api_headers(host_header, api_key, accept='text/event-stream' if stream else 'application/json')
    headers['Content-Type'] = 'application/json'
    chat = {'model': model, 'stream': bool(stream), 'status': None, 'ttft_ms': None, 'chunks': 0,
            'content_chunks': 0, 'max_gap_ms': None, 'total_ms': None, 'content': '', 'finish_reason': None,
            'done': False}
    start = time.monotonic()
    reply, response = http_call(chat_url(base_url), method='POST', headers=headers,
                                data=json.dumps(body).encode('utf-8'), timeout=timeout,
                                validate_certs=validate_certs, use_proxy=use_proxy, stream=stream)
    chat['status'] = reply.status
    if reply.error or (response is None and not 200 <= (reply.status or 0) < 300):
        chat['total_ms'] = ms_since(start)
        if reply.error:
            return reply.error, chat, reply.reason
        diagnosis = classify_status(reply.status, reply.body)
        if diagnosis == 'upstream_error' and 400 <= reply.status < 500:
            diagnosis = 'chat_rejected'
        return diagnosis, chat, excerpt(reply.body, (api_key,))
    if not stream:
        chat['total_ms'] = ms_since(start)
        try:
            doc = json.loads(reply.body.decode('utf-8'))
            choice = doc['choices'][0]
            chat['content'] = choice['message'].get('content') or ''
            chat['finish_reason'] = choice.get('finish_reason')
        except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError, AttributeError):
            return 'chat_bad_response', chat, excerpt(reply.body, (api_key,))
        chat['done'] = True
        return 'ok', chat, None
    return _consume_stream(response, chat, start, timeout, api_key)


def _consume_stream(response, chat, start, timeout, api_key):
    content = []
    last = None
    diagnosis, detail = 'ok', None
    try:
        for data in iter_sse_data(response.readline):
            now = time.monotonic()
            if last is not None:
                gap = round((now - last) * 1000.0, 1)
                chat['max_gap_ms'] = gap if chat['max_gap_ms'] is None else max(chat['max_gap_ms'], gap)
            last = now
            if data.strip() == '[DONE]':
                chat['done'] = True
                break
            try:
                event = json.loads(data)
            except ValueError:
                event = None
            if not isinstance(event, dict):
                diagnosis, detail = 'chat_bad_response', 'an event is not JSON: %s' % excerpt(data, (api_key,))
                break
            if 'error' in event:
                # LiteLLM reports a failure that happens after the headers as an error event.
                diagnosis, detail = 'upstream_error', 'error event in the stream: %s' % excerpt(data, (api_key,))
                break
            chat['chunks'] += 1
            for choice in event.get('choices') or []:
                piece = (choice.get('delta') or {}).get('content') or ''
                if piece:
                    if chat['ttft_ms'] is None:
                        chat['ttft_ms'] = ms_since(start)
                    chat['content_chunks'] += 1
                    content.append(piece)
                if choice.get('finish_reason'):
                    chat['finish_reason'] = choice['finish_reason']
            if now - start > timeout:
                diagnosis, detail = 'read_timeout', 'the stream was still running after %s s' % timeout
                break
    except Exception as exc:  # a cut stream surfaces as IncompleteRead, a reset or a timeout
        diagnosis, detail = classify_exception(exc)
        if diagnosis in ('connection_closed', 'connection_reset'):
            diagnosis = 'chat_stream_incomplete'
    finally:
        response.close()
        chat['total_ms'] = ms_since(start)
        chat['content'] = ''.join(content)
    if diagnosis == 'ok' and not chat['done']:
        # frps ends the chunked body cleanly when the upstream drops mid-stream (checked on 0.65.0),
        # so the missing [DONE] is the only sign of a cut stream.
        if chat['chunks'] == 0:
            diagnosis, detail = 'chat_bad_response', 'the answer held no chat.completion.chunk events'
        else:
            diagnosis, detail = 'chat_stream_incomplete', (
                'the stream ended after %d events without data: [DONE]' % chat['chunks'])
    return diagnosis, chat, detail


# --- frps dashboard -----------------------------------------------------------------------------------

def fetch_frps_proxies(dashboard_url, user='', password='', timeout=10, validate_certs=True, use_proxy=True):
    """The http proxies frps knows, from its dashboard API. Returns (list or None, error text or None)."""
    url = dashboard_url.rstrip('/') + '/api/proxy/http'
    headers = {'Accept': 'application/json'}
    if user or password:
        # Sent up front: the dashboard answers 401 rather than challenging politely for every client.
        token = base64.b64encode(('%s:%s' % (user, password)).encode('utf-8')).decode('ascii')
        headers['Authorization'] = 'Basic %s' % token
    reply = http_call(url, headers=headers, timeout=timeout, validate_certs=validate_certs,
                      use_proxy=use_proxy)[0]
    if reply.error:
        return None, 'frps dashboard %s unreachable (%s: %s)' % (url, reply.error, reply.reason)
    if reply.status in (401, 403):
        return None, ('frps dashboard %s answered %d: check frps_dashboard_user/frps_dashboard_password '
                      'against webServer.user/password in frps.toml' % (url, reply.status))
    if reply.status != 200:
        return None, 'frps dashboard %s answered %d: %s' % (url, reply.status, excerpt(reply.body, (password,)))
    try:
        doc = json.loads(reply.body.decode('utf-8'))
        raw = doc['proxies']
        if not isinstance(raw, list):
            raise TypeError('proxies is not a list')
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return None, 'frps dashboard %s did not answer a proxy list: %s' % (url, excerpt(reply.body, (password,)))
    proxies = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        conf = item.get('conf') if isinstance(item.get('conf'), dict) else {}
        proxies.append({
            'name': item.get('name'),
            'status': item.get('status'),
            # frps reports the configuration only while a proxy is online (offline: conf is null).
            'custom_domains': conf.get('customDomains') if conf else None,
            'subdomain': conf.get('subdomain') if conf else None,
            'locations': conf.get('locations') if conf else None,
            'local_ip': conf.get('localIP') if conf else None,
            'client_version': item.get('clientVersion'),
            'cur_conns': item.get('curConns'),
            'last_start_time': item.get('lastStartTime'),
            'last_close_time': item.get('lastCloseTime'),
        })
    return proxies, None


def _name_matches(proxy_name, wanted):
    # frpc prefixes names with "<user>." when auth user is set.
    return proxy_name == wanted or (proxy_name or '').endswith('.' + wanted)


def find_proxy(proxies, host_header, proxy_name=''):
    """The proxy entry that should serve host_header (by name if given, else by customDomains)."""
    host = frp_route_host(host_header)
    if proxy_name:
        named = [p for p in proxies if _name_matches(p['name'], proxy_name)]
        return named[0] if named else None
    for proxy in proxies:
        domains = [frp_route_host(d) for d in proxy.get('custom_domains') or []]
        if host in domains:
            return proxy
    return None


def frps_proxy_state(proxies, host_header, proxy_name=''):
    """A short note on the proxy for host_header, for results where the dashboard is not the key."""
    proxy = find_proxy(proxies, host_header, proxy_name)
    online = sum(1 for p in proxies if p.get('status') == 'online')
    if proxy is None:
        return 'frps dashboard: no proxy found for %s (%d of %d http proxies online).' % (
            proxy_name or frp_route_host(host_header), online, len(proxies))
    return "frps dashboard: proxy '%s' is %s (%d of %d http proxies online)." % (
        proxy['name'], proxy.get('status'), online, len(proxies))


def explain_frps_proxies(proxies, host_header, proxy_name=''):
    """One or two sentences on what the dashboard says about the proxy for host_header."""
    host = frp_route_host(host_header)
    proxy = find_proxy(proxies, host_header, proxy_name)
    online = [p for p in proxies if p.get('status') == 'online']
    offline = [p for p in proxies if p.get('status') != 'online']
    served = sorted(set(frp_route_host(d) for p in online for d in (p.get('custom_domains') or [])))
    if proxy is None:
        if proxy_name:
            text = "The frps dashboard knows no http proxy named '%s'" % proxy_name
        else:
            text = "The frps dashboard shows no online http proxy with customDomains containing '%s'" % host
        text += (': frpc has not registered it since frps started (frpc not running, wrong serverAddr/token, '
                 'or its health check failed from the start). ')
        text += 'Online proxies serve: %s. ' % (', '.join(served) or 'none')
        if offline and not proxy_name:
            text += ('Offline proxies (frps does not report their domains): %s; set frps_proxy_name to match '
                     'by name. ' % ', '.join(sorted('%s' % p['name'] for p in offline)))
        return text.strip()
    label = "Proxy '%s'" % proxy['name']
    if proxy.get('status') != 'online':
        return ("%s is OFFLINE at frps (last started %s, closed %s): frpc disconnected, or its health check "
                "against the local API failed and unregistered it. Check `systemctl status frpc` and "
                "`journalctl -u frpc` on the office server, and that the API answers there "
                "(`curl http://localhost:4000/health/liveliness`)."
                % (label, proxy.get('last_start_time') or '?', proxy.get('last_close_time') or '?'))
    domains = [frp_route_host(d) for d in proxy.get('custom_domains') or []]
    if host not in domains:
        return ("%s is online but serves customDomains %s, not the Host '%s' that was sent: make host_header "
                "and the proxy's customDomains agree." % (label, domains, host))
    text = ("%s is ONLINE for '%s', so frpc is connected and registered: frps' 404 then means frpc could not "
            "reach the local service (localIP %s). Check the API on the office server "
            "(`curl http://localhost:4000/v1/models`) and the proxy's localIP/localPort."
            % (label, host, proxy.get('local_ip') or '?'))
    if proxy.get('locations'):
        text += ' The proxy only routes the paths %s.' % proxy['locations']
    return text


# --- messages -----------------------------------------------------------------------------------------

def _where(url, host_header):
    return '%s (Host: %s)' % (url, host_header) if host_header else url


def explain(diagnosis, url, host_header='', status=None, detail=None, body=b'', secrets=(), timeout=None,
            models=(), missing=(), dashboard_text=None, step='GET /v1/models'):
    """A message for a failed step: what is wrong, then what to check."""
    where = _where(url, host_header)
    body_text = excerpt(body, secrets)
    parsed = urlsplit(url)
    route_host = frp_route_host(host_header or parsed.netloc)
    port = parsed.port or (443 if parsed.scheme == 'https' else 80)
    if diagnosis == 'connection_refused':
        msg = ('%s: connection refused by %s:%s. Nothing listens there. With a tcp proxy (lisyoen.frp\'s '
               'default for the LLM API) frps opens that port only while frpc is connected and its proxy is '
               'registered: on the office server check `systemctl status frpc` and `journalctl -u frpc` '
               '(token mismatch, wrong server address). Otherwise frps is down or not on that port, a '
               'firewall rejects it, or the address/port in url is wrong: on the frps host check '
               '`systemctl status frps` and `ss -ltnp | grep %s`.'
               % (step, parsed.hostname, port, port))
    elif diagnosis == 'connection_timeout':
        msg = ('%s: could not connect to %s:%s within %s s. A firewall or router drops the packets, the '
               'public IP changed, or the host is off. Check the address in url, port forwarding on the '
               'router and the firewall (ufw) on the frps host.' % (step, parsed.hostname, port, timeout))
    elif diagnosis == 'dns_failure':
        msg = '%s: the host name %s does not resolve (%s). Check url.' % (step, parsed.hostname, detail)
    elif diagnosis == 'tls_error':
        msg = ('%s: TLS failed for %s (%s). Check the certificate, or that url uses http:// for the plain '
               'HTTP vhost port; validate_certs=false skips verification.' % (step, where, detail))
    elif diagnosis == 'connection_closed':
        msg = ('%s: %s closed the connection without an HTTP answer (%s). With a tcp proxy (lisyoen.frp\'s '
               'default for the LLM API) this is how frpc reports that it cannot reach the local API: on the '
               'office server check that `curl http://localhost:4000/v1/models` answers and '
               '`journalctl -u frpc`. Or url points at frps\' control port (bindPort, 7000) instead of the '
               'API port (8081), or at a non-HTTP service.' % (step, where, detail))
    elif diagnosis == 'connection_reset':
        msg = ('%s: the connection to %s was reset (%s): frps restarted or something between drops the '
               'connection. With a tcp proxy (lisyoen.frp\'s default for the LLM API) a port forwarder in front '
               'of frps (a router, Docker) also resets it while frpc is not connected: on the office server '
               'check `systemctl status frpc` and `journalctl -u frpc`.' % (step, where, detail))
    elif diagnosis == 'connection_error':
        msg = ('%s: could not reach %s (%s). Check the network route to %s, and any HTTP proxy from the '
               'environment (use_proxy=false bypasses it).' % (step, where, detail, parsed.hostname))
    elif diagnosis == 'read_timeout':
        msg = ('%s: %s accepted the connection but gave no answer within %s s (%s). The API is slow or hung '
               'behind the tunnel; raise timeout, or check the API on the office server.'
               % (step, where, timeout, detail))
    elif diagnosis == 'frp_no_proxy':
        msg = ("%s: %s answered frps' own 404 page: frps has no working proxy for the Host '%s'. frps gives "
               "this same page when frpc is not connected or never registered the proxy, when the proxy's "
               "customDomains do not match host_header, and when frpc cannot reach the local API or its "
               "health check failed. On the office server check `systemctl status frpc` and "
               "`journalctl -u frpc`, that customDomains in frpc.toml contains '%s', and that "
               "`curl http://localhost:4000/v1/models` answers there."
               % (step, where, route_host, route_host))
        if dashboard_text:
            msg += ' ' + dashboard_text
    elif diagnosis == 'api_key_rejected':
        msg = ('%s: %s answered %s: the API key was rejected. Check that the api_key (from the vault) equals '
               'the LiteLLM master key or a valid virtual key, and that nothing on the path does HTTP basic '
               'auth (frp httpUser/httpPassword consume the Authorization header and break Bearer keys). '
               'Body: %s' % (step, where, status, body_text or '(empty)'))
    elif diagnosis == 'gateway_timeout':
        msg = ("%s: %s answered 504 Gateway Timeout: frps waited longer than its vhostHTTPTimeout (60 s by "
               "default) for the upstream's response headers. The API is overloaded or hung, or a "
               "non-streaming completion takes longer than that: raise frps_server_vhost_http_timeout, or "
               "stream." % (step, where))
    elif diagnosis == 'upstream_error':
        msg = '%s: %s answered HTTP %s. Body: %s' % (step, where, status, body_text or '(empty)')
        if status == 404:
            msg += (' (a 404 that is not frps\' page comes from the API itself: check the path in url, '
                    'which should be the server root or end in /v1; or frps serves a custom404Page)')
        elif status in (502, 503):
            msg += ' (the API behind the tunnel is starting or overloaded)'
        elif detail:
            msg += ' (%s)' % detail
    elif diagnosis == 'not_openai_models':
        msg = ('%s: %s answered %s but the body is not an OpenAI model list ({"object": "list", "data": '
               '[{"id": ...}]}). Something other than the LLM API answers on this Host. Body: %s'
               % (step, where, status, body_text or '(empty)'))
    elif diagnosis == 'expected_model_missing':
        msg = ('%s: %s does not list the expected model(s) %s. It serves: %s. Check the model_list in the '
               'LiteLLM config and that vLLM loaded the model.'
               % (step, where, ', '.join(missing), ', '.join(models) or 'no models'))
    elif diagnosis == 'chat_rejected':
        msg = ('%s: %s refused the chat completion with HTTP %s. Check chat_model against the served '
               'models. Body: %s' % (step, where, status, detail or body_text or '(empty)'))
    elif diagnosis == 'chat_bad_response':
        msg = '%s: %s did not answer an OpenAI chat completion: %s' % (step, where, detail)
    elif diagnosis == 'chat_stream_incomplete':
        msg = ('%s: the stream from %s was cut before data: [DONE] (%s). Something on the path closed it: '
               'frps/frpc restarts, a proxy buffering or timing out streams, or the API crashed mid-answer.'
               % (step, where, detail))
    else:
        msg = '%s: %s failed (%s): %s' % (step, where, diagnosis, detail or body_text)
    return redact(msg, secrets)
