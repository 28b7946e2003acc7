# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What frps shows a client: its own 404 page, and which proxies its dashboard says are online.

frps answers the same 404 page when no proxy matches the Host header, when frpc cannot reach the
local service and after a failed health check unregistered the proxy. Its dashboard API
(/api/proxy/http) tells these apart: a proxy that is online, offline, or unknown.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_http import excerpt

# Text of frps' built-in not-found page (pkg/util/vhost/resource.go), checked against frps 0.65.0.
_FRP_404_MARKERS = (b'The page you requested was not found.', b'github.com/fatedier/frp')


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


def fetch_frps_proxies(client, dashboard_url, user='', password=''):
    """The http proxies frps knows, from its dashboard API. Returns (list or None, error text or None).

    `client` is an llm_probe_http.HttpClient; the dashboard's credentials go through open_url's own
    basic auth, sent up front (the dashboard answers 401 rather than challenging every client).
    """
    url = dashboard_url.rstrip('/') + '/api/proxy/http'
    auth = dict(url_username=user or None, url_password=password or None, force_basic_auth=bool(user),
                use_gssapi=False)
    reply = client.call(url, headers={'Accept': 'application/json'}, auth=auth)[0]
    if reply.error:
        return None, 'frps dashboard %s unreachable (%s: %s)' % (url, reply.error, reply.reason)
    if reply.status in (401, 403):
        return None, ('frps dashboard %s answered %d: check the dashboard user and password against '
                      'webServer.user/password in frps.toml' % (url, reply.status))
    if reply.status != 200:
        return None, 'frps dashboard %s answered %d: %s' % (url, reply.status, excerpt(reply.body, (password,)))
    try:
        raw = json.loads(reply.body.decode('utf-8'))['proxies']
        if not isinstance(raw, list):
            raise TypeError('proxies is not a list')
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return None, 'frps dashboard %s did not answer a proxy list: %s' % (url, excerpt(reply.body, (password,)))
    return [_proxy_entry(item) for item in raw if isinstance(item, dict)], None


def _proxy_entry(item):
    # frps reports the configuration only while a proxy is online (offline: conf is null).
    conf = item.get('conf') if isinstance(item.get('conf'), dict) else {}
    return {
        'name': item.get('name'),
        'status': item.get('status'),
        'custom_domains': conf.get('customDomains') if conf else None,
        'subdomain': conf.get('subdomain') if conf else None,
        'locations': conf.get('locations') if conf else None,
        'local_ip': conf.get('localIP') if conf else None,
        'client_version': item.get('clientVersion'),
        'cur_conns': item.get('curConns'),
        'last_start_time': item.get('lastStartTime'),
        'last_close_time': item.get('lastCloseTime'),
    }


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


def explain_frps_proxies(proxies, host_header, hints, proxy_name=''):
    """One or two sentences on what the dashboard says about the proxy for host_header.

    `hints` (an llm_probe_diagnoses.Hints) names the frpc host and the API's local address.
    """
    host = frp_route_host(host_header)
    proxy = find_proxy(proxies, host_header, proxy_name)
    if proxy is None:
        return _explain_unknown_proxy(proxies, host, proxy_name)
    label = "Proxy '%s'" % proxy['name']
    if proxy.get('status') != 'online':
        return ("%s is OFFLINE at frps (last started %s, closed %s): frpc disconnected, or its health check "
                "against the local API failed and unregistered it. Check `systemctl status frpc` and "
                "`journalctl -u frpc` on %s, and %s there."
                % (label, proxy.get('last_start_time') or '?', proxy.get('last_close_time') or '?',
                   hints.client, hints.api_check))
    domains = [frp_route_host(d) for d in proxy.get('custom_domains') or []]
    if host not in domains:
        return ("%s is online but serves customDomains %s, not the Host '%s' that was sent: make host_header "
                "and the proxy's customDomains agree." % (label, domains, host))
    text = ("%s is ONLINE for '%s', so frpc is connected and registered: frps' 404 then means frpc could not "
            "reach the local service (localIP %s). Check the proxy's localIP/localPort, and %s on %s."
            % (label, host, proxy.get('local_ip') or '?', hints.api_check, hints.client))
    if proxy.get('locations'):
        text += ' The proxy only routes the paths %s.' % proxy['locations']
    return text


def _explain_unknown_proxy(proxies, host, proxy_name):
    served = sorted(set(frp_route_host(d) for p in proxies if p.get('status') == 'online'
                        for d in (p.get('custom_domains') or [])))
    offline = sorted('%s' % p['name'] for p in proxies if p.get('status') != 'online')
    if proxy_name:
        text = "The frps dashboard knows no http proxy named '%s'" % proxy_name
    else:
        text = "The frps dashboard shows no online http proxy with customDomains containing '%s'" % host
    text += (': frpc has not registered it since frps started (frpc not running, wrong serverAddr/token, '
             'or its health check failed from the start). ')
    text += 'Online proxies serve: %s.' % (', '.join(served) or 'none')
    if offline and not proxy_name:
        text += (' Offline proxies (frps does not report their domains): %s; set frps_proxy_name to match '
                 'by name.' % ', '.join(offline))
    return text
