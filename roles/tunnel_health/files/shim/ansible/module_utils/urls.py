# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The part of ansible.module_utils.urls that llm_probe_http and llm_api_probe use, on the stdlib.

Same contract as ansible-core's: Request().open() raises urllib's HTTPError for an HTTP error status
(and, with follow_redirects='none', for a redirect), URLError wrapping the cause for transport errors,
and returns the open response otherwise. tests/unit/test_tunnel_health.py holds both to the same
diagnoses against real local servers.
"""

import base64
import ssl
import urllib.request


class SSLValidationError(ssl.SSLError):
    pass


def url_argument_spec():
    return dict(
        url=dict(type='str'),
        force=dict(type='bool', default=False),
        http_agent=dict(type='str', default='ansible-httpget'),
        use_proxy=dict(type='bool', default=True),
        validate_certs=dict(type='bool', default=True),
        url_username=dict(type='str'),
        url_password=dict(type='str', no_log=True),
        force_basic_auth=dict(type='bool', default=False),
        client_cert=dict(type='path'),
        client_key=dict(type='path'),
        use_gssapi=dict(type='bool', default=False),
    )


def make_context(cafile=None, cadata=None, capath=None, ciphers=None, validate_certs=True, client_cert=None,
                 client_key=None):
    context = ssl.create_default_context(cafile=cafile, capath=capath, cadata=cadata)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if ciphers:
        context.set_ciphers(':'.join(ciphers))
    if client_cert:
        context.load_cert_chain(client_cert, keyfile=client_key)
    return context


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None     # urllib then raises HTTPError for the 3xx, as ansible-core does


class Request(object):
    def open(self, method, url, data=None, headers=None, use_proxy=True, force=False, timeout=10,
             http_agent=None, url_username=None, url_password=None, force_basic_auth=False,
             follow_redirects='urllib2', context=None, use_gssapi=False, use_netrc=True, decompress=True,
             **kwargs):
        if use_gssapi:
            raise NotImplementedError('GSSAPI is not available to the health timer')
        handlers = [urllib.request.HTTPSHandler(context=context)]
        if not use_proxy:
            handlers.append(urllib.request.ProxyHandler({}))
        if follow_redirects in ('none', 'no', False):
            handlers.append(_NoRedirect())
        request = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)
        if http_agent:
            request.add_header('User-Agent', http_agent)
        if force:
            request.add_header('Cache-Control', 'no-cache')
        if url_username and force_basic_auth:
            token = base64.b64encode(('%s:%s' % (url_username, url_password or '')).encode('utf-8'))
            request.add_header('Authorization', 'Basic ' + token.decode('ascii'))
        return urllib.request.build_opener(*handlers).open(request, timeout=timeout)
