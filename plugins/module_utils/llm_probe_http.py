# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP for lisyoen.frp.llm_api_probe: one request, and a diagnosis code when no HTTP answer came.

Every request goes through ansible.module_utils.urls.Request with the module's url options
(ansible.module_utils.urls.url_argument_spec() plus ca_path). HTTP error statuses are answers
(a Reply with a status), not exceptions; transport failures become a code from DIAGNOSES.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client as http_client
import socket
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible.module_utils.urls import Request, SSLValidationError, make_context

# Python 3.10 made socket.timeout an alias of TimeoutError; remote targets may be older.
_TIMEOUTS = (socket.timeout, TimeoutError)

USER_AGENT = 'lisyoen.frp.llm_api_probe'
EXCERPT_CHARS = 200
MAX_BODY_BYTES = 1024 * 1024


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


def redact(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, '********')
    return text


def excerpt(body, secrets=(), limit=EXCERPT_CHARS):
    """The first `limit` characters of a body on one line, with any secret blanked out first."""
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    text = ' '.join((body or '').split())
    text = redact(text, secrets)
    return text[:limit] + ('...' if len(text) > limit else '')


def classify_exception(exc):
    """Map a transport exception to (diagnosis, reason text)."""
    # Order matters: RemoteDisconnected is also a ConnectionResetError, a certificate error is also
    # an SSLError, and URLError wraps the cause.
    if isinstance(exc, (SSLValidationError, ssl.SSLCertVerificationError)):
        return 'tls_untrusted', str(exc)
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
    if isinstance(exc, ssl.SSLError):
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


class HttpClient(object):
    """Sends requests with one set of url options: those of url_argument_spec() plus ca_path.

    The TLS context is made once, outside the timed section: open_url would build a fresh one per
    request, loading the CA store (~20 ms), even for plain http where it is never used; that would
    swamp the tunnel latency the probe reports.
    """

    def __init__(self, timeout=10, validate_certs=True, ca_path=None, client_cert=None, client_key=None,
                 use_proxy=True, http_agent=USER_AGENT, force=False, url_username=None, url_password=None,
                 force_basic_auth=False, use_gssapi=False):
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self.use_proxy = use_proxy
        self.http_agent = http_agent
        self.force = force
        self.auth = dict(url_username=url_username, url_password=url_password,
                         force_basic_auth=force_basic_auth, use_gssapi=use_gssapi)
        self._tls = None

    @classmethod
    def from_params(cls, params):
        """A client from AnsibleModule params (url_argument_spec() names plus timeout and ca_path)."""
        names = ('timeout', 'validate_certs', 'ca_path', 'client_cert', 'client_key', 'use_proxy', 'http_agent',
                 'force', 'url_username', 'url_password', 'force_basic_auth', 'use_gssapi')
        return cls(**dict((name, params.get(name)) for name in names if params.get(name) is not None))

    def tls_context(self):
        """The SSLContext that verifies servers the way the module's options say."""
        if self._tls is None:
            self._tls = make_context(cafile=self.ca_path, validate_certs=self.validate_certs,
                                     client_cert=self.client_cert, client_key=self.client_key)
        return self._tls

    def _context_for(self, url):
        if urlsplit(url).scheme == 'https':
            return self.tls_context()
        # Never used for http; given so that open_url does not build (and load CAs into) one.
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    def call(self, url, method='GET', headers=None, data=None, timeout=None, stream=False, auth=None):
        """Send one request; return (Reply, open response or None).

        With stream=True and a 2xx answer the response is returned unread for the caller to consume;
        otherwise the body is read into the Reply. `auth` replaces the client's url_username,
        url_password, force_basic_auth and use_gssapi for this request (the frps dashboard has its own).
        """
        context = self._context_for(url)
        start = time.monotonic()
        response = None
        try:
            response = Request().open(
                method, url, data=data, headers=headers or {}, timeout=timeout or self.timeout,
                context=context, use_proxy=self.use_proxy, http_agent=self.http_agent, force=self.force,
                # A redirect would carry our Host header to another server; report it instead.
                follow_redirects='none',
                # ~/.netrc credentials would replace the Bearer header with basic auth.
                use_netrc=False,
                decompress=not stream,
                **(auth if auth is not None else self.auth)
            )
        except HTTPError as exc:
            try:
                body = exc.read(MAX_BODY_BYTES)
            except Exception:  # the error body is best effort; the status alone is informative
                body = b''
            return Reply(status=exc.code, headers=_lower_keys(exc.headers), body=body,
                         elapsed_ms=ms_since(start)), None
        except Exception as exc:  # every transport failure becomes a diagnosis
            diagnosis, reason = classify_exception(exc)
            return Reply(error=diagnosis, reason=reason, elapsed_ms=ms_since(start)), None
        reply = Reply(status=response.getcode(), headers=_lower_keys(response.headers))
        if stream:
            reply.elapsed_ms = ms_since(start)
            return reply, response
        try:
            reply.body = response.read(MAX_BODY_BYTES)
        except Exception as exc:
            reply.error, reply.reason = classify_exception(exc)
        finally:
            response.close()
        reply.elapsed_ms = ms_since(start)
        return reply, None
