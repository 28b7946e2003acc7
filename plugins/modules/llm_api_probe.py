#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: llm_api_probe
short_description: Probe an OpenAI-compatible API through an frp tunnel and diagnose failures
version_added: 1.0.0
description:
  - Sends C(GET <url>/v1/models) with a C(Host) header and a Bearer API key, the way a client reaches an
    LLM API (LiteLLM in front of vLLM) published through an frp C(http) or C(tcp) proxy, and checks that the
    answer is an OpenAI model list holding the expected models.
  - Optionally waits for the tunnel to come up, retrying only failures that fix themselves (connection
    refused, reset or closed, frps' own 404 page, HTTP 502, 503 and 504).
  - Optionally posts one chat completion, streamed by default, and measures the time to the first token,
    the number of chunks and the total time.
  - Optionally asks the frps dashboard (C(/api/proxy/http)) which proxies are online, to tell apart the
    causes frps hides behind one 404 page.
  - For an C(https) O(url), reports how many days the server's certificate has left and warns under 14.
  - When a check fails, the module fails with a message that says what is wrong and what to check, and a
    stable RV(diagnosis) code in the result.
  - The module only reads; it never changes anything and always reports RV(ignore:changed=false).
author:
  - lisyoen (@lisyoen)
extends_documentation_fragment:
  - ansible.builtin.url
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The probe only reads, so it runs in check mode too and returns the same results.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - >-
    frps answers the same 404 page when no proxy is registered for the Host header, when frpc cannot
    reach the local API and when a failed health check unregistered the proxy. Give O(frps_dashboard_url)
    to tell these apart: the module then says whether the proxy is online or offline.
  - >-
    frps lower-cases the Host header and strips its port before matching it against C(customDomains).
  - >-
    Do not put frp's C(httpUser)/C(httpPassword) on the LLM proxy: basic auth takes over the
    C(Authorization) header and the Bearer key never reaches the API. For the same reason O(url_username)
    and O(api_key) exclude each other.
  - >-
    The url options (O(validate_certs), O(ca_path), O(client_cert), O(client_key), O(use_proxy),
    O(http_agent), O(force)) apply to the requests to O(url) and to O(frps_dashboard_url);
    O(url_username), O(url_password), O(force_basic_auth) and O(use_gssapi) only to O(url). The dashboard
    uses O(frps_dashboard_user) and O(frps_dashboard_password).
  - >-
    The certificate check of an C(https) O(url) is one more TLS handshake with the host and port of O(url),
    with the same verification settings, directly (not through a proxy).
  - The requests are sent from the host the task runs on; use C(delegate_to) to probe from elsewhere.
options:
  url:
    description:
      - Base URL of the API as seen by the client, for example V(http://110.13.119.7:8081).
      - A trailing V(/v1), as OpenAI clients use in C(base_url), is accepted; V(/v1/models) is appended otherwise.
      - Must not hold credentials; use O(api_key), or O(url_username) and O(url_password).
    type: str
    required: true
  http_agent:
    default: lisyoen.frp.llm_api_probe
  host_header:
    description:
      - Value of the C(Host) header; frps routes on it to the proxy whose C(customDomains) hold it.
      - Empty to send the host of O(url) instead.
    type: str
    default: llm.local
  api_key:
    description:
      - 'API key sent as C(Authorization: Bearer <api_key>). No C(Authorization) header when empty or omitted.'
      - Mutually exclusive with O(url_username).
    type: str
  expected_models:
    description:
      - Model ids that must be in the model list.
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds to wait for each request to the API and to the dashboard (connect, and each read).
    type: float
    default: 10
  ca_path:
    description:
      - PEM file of the CA certificate(s) to verify an C(https) O(url) or O(frps_dashboard_url) with, instead
        of the system's trust store; for example the private CA of a front end with its own certificate.
    type: path
  wait_timeout:
    description:
      - Keep retrying transient failures for up to this many seconds, for example while frpc reconnects
        after a restart. V(0) tries once.
      - Retried diagnoses are V(connection_refused), V(connection_reset), V(connection_closed), V(frp_no_proxy),
        V(gateway_timeout) and V(upstream_error) with status 502 or 503. Others (a rejected key, a wrong body) fail at once.
      - The last attempt may end up to O(timeout) seconds after this.
    type: float
    default: 0
  delay:
    description:
      - Seconds between attempts when O(wait_timeout) is set.
    type: float
    default: 2
  chat_model:
    description:
      - When set, after a successful model check, post one chat completion with this model as a smoke test.
    type: str
  chat_prompt:
    description:
      - User message of the chat smoke test.
    type: str
    default: 'Reply with the single word: pong'
  chat_stream:
    description:
      - Stream the chat completion (Server-Sent Events), as LLM clients do. Measures time to first token.
    type: bool
    default: true
  chat_timeout:
    description:
      - Seconds the whole chat completion may take.
    type: float
    default: 120
  chat_max_tokens:
    description:
      - C(max_tokens) of the chat smoke test, to keep it short. V(0) leaves it to the server.
    type: int
    default: 16
  frps_dashboard_url:
    description:
      - Base URL of the frps dashboard (C(webServer) in frps.toml), for example V(http://127.0.0.1:7500).
      - When set, the module reads C(/api/proxy/http) there, returns RV(frps_proxies) and uses it to explain
        a 404 from frps. Failing to reach the dashboard does not fail the module; the message says so.
      - The dashboard listens on 127.0.0.1 by default, so run the task on the frps host (C(delegate_to)) or
        tunnel to it.
    type: str
  frps_dashboard_user:
    description:
      - Dashboard user (C(webServer.user)), sent with O(frps_dashboard_password) as HTTP basic auth.
    type: str
  frps_dashboard_password:
    description:
      - Dashboard password (C(webServer.password)).
    type: str
  frps_proxy_name:
    description:
      - Name of the frpc proxy serving O(host_header), to find it in the dashboard even while it is offline
        (frps does not report the C(customDomains) of offline proxies). Matched with or without the
        C(<user>.) prefix frps adds when frpc sets C(user).
      - Without it the proxy is found by O(host_header) among the online proxies.
    type: str
  context:
    description:
      - Facts about the deployment that failure messages use to name the right host, port and command,
        for example C(on spark check that curl http://127.0.0.1:4000/v1/models answers) rather than
        C(on the frpc host check that the API answers at the proxy's localIP and localPort).
      - Every key is optional; messages use neutral wording (C(the frpc host)) for a missing one. The probe
        itself does not use them.
    type: dict
    suboptions:
      server_host:
        description:
          - Name of the host that runs frps, for example V(minipc).
        type: str
      client_host:
        description:
          - Name of the host that runs frpc next to the API, for example V(spark).
        type: str
      control_port:
        description:
          - frps' control port (C(bindPort)), for example V(7000).
        type: int
      api_local:
        description:
          - Address at which frpc reaches the API (the proxy's C(localIP:localPort)), for example
            V(127.0.0.1:4000) or V(http://127.0.0.1:4000).
        type: str
seealso:
  - name: frp HTTP proxy documentation
    description: How frps routes HTTP requests by Host header.
    link: https://gofrp.org/en/docs/features/http-https/
"""

EXAMPLES = r"""
- name: Check the tunnelled LLM API from the controller
  lisyoen.frp.llm_api_probe:
    url: "http://{{ frps_public_ip }}:8081"
    host_header: llm.local
    api_key: "{{ vault_llm_api_key }}"
    expected_models:
      - Qwen/Qwen3-Coder-30B-A3B-Instruct
    context:
      server_host: minipc
      client_host: spark
      control_port: 7000
      api_local: 127.0.0.1:4000
  delegate_to: localhost
  register: probe

- name: Wait up to two minutes for frpc to reconnect, then stream one completion
  lisyoen.frp.llm_api_probe:
    url: "http://{{ frps_public_ip }}:8081/v1"
    api_key: "{{ vault_llm_api_key }}"
    wait_timeout: 120
    delay: 3
    chat_model: Qwen/Qwen3-Coder-30B-A3B-Instruct
  delegate_to: localhost
  register: probe

- name: Show the stream timings
  ansible.builtin.debug:
    msg: "first token after {{ probe.chat.ttft_ms }} ms, {{ probe.chat.chunks }} chunks, {{ probe.chat.total_ms }} ms"

- name: Probe an https front end whose certificate comes from a private CA
  lisyoen.frp.llm_api_probe:
    url: "https://llm.example.net:8443"
    host_header: ""
    api_key: "{{ vault_llm_api_key }}"
    ca_path: /etc/ssl/private-ca.pem
  delegate_to: localhost
  register: probe

- name: Show how long the certificate has left
  ansible.builtin.debug:
    msg: "certificate valid until {{ probe.cert_not_after }} ({{ probe.cert_days_left }} days)"

- name: Probe on the frps host itself and ask its dashboard which proxies are online
  lisyoen.frp.llm_api_probe:
    url: http://127.0.0.1:8081
    api_key: "{{ vault_llm_api_key }}"
    frps_dashboard_url: http://127.0.0.1:7500
    frps_dashboard_user: admin
    frps_dashboard_password: "{{ vault_frps_dashboard_password }}"
    frps_proxy_name: llm
  register: probe
  failed_when: false

- name: Tell the operator what the probe found
  ansible.builtin.debug:
    msg: "{{ probe.diagnosis }}: {{ probe.message }}"
"""

RETURN = r"""
status:
  description: HTTP status of the last C(/v1/models) request; null when no HTTP answer arrived.
  returned: always
  type: int
  sample: 200
models:
  description: Model ids the API listed (empty when the list could not be read).
  returned: always
  type: list
  elements: str
  sample: [Qwen/Qwen3-Coder-30B-A3B-Instruct]
missing_models:
  description: Entries of O(expected_models) that the API did not list.
  returned: always
  type: list
  elements: str
  sample: []
latency_ms:
  description: Milliseconds the last C(/v1/models) request took, connection included.
  returned: always
  type: float
  sample: 12.4
diagnosis:
  description:
    - Stable machine-readable outcome. V(ok) on success; on failure the first problem found. The README's
      Troubleshooting table says what each means and what to check.
    - No HTTP answer - V(connection_refused), V(connection_timeout), V(connection_reset), V(connection_closed)
      (for example frps' control port, or frpc that cannot reach the API through a tcp proxy),
      V(connection_error), V(dns_failure), V(tls_untrusted) (certificate not verified; see O(ca_path)),
      V(tls_error), V(read_timeout).
    - An HTTP error - V(frp_no_proxy) (frps' own 404 page), V(api_key_rejected) and V(api_key_missing)
      (401 or 403, or a 400 or 500 whose error is about the key, as LiteLLM answers a wrong key with 400
      C(no_db_connection) when it has no database), V(gateway_timeout) (504 from frps), V(upstream_error)
      (any other HTTP error).
    - A wrong answer - V(not_openai_models), V(expected_model_missing).
    - From the chat smoke test also V(chat_rejected), V(chat_bad_response), V(chat_stream_incomplete), or any
      of the codes above.
  returned: always
  type: str
  choices:
    - ok
    - connection_refused
    - connection_timeout
    - connection_reset
    - connection_closed
    - connection_error
    - dns_failure
    - tls_untrusted
    - tls_error
    - read_timeout
    - frp_no_proxy
    - api_key_rejected
    - api_key_missing
    - gateway_timeout
    - upstream_error
    - not_openai_models
    - expected_model_missing
    - chat_rejected
    - chat_bad_response
    - chat_stream_incomplete
  sample: frp_no_proxy
message:
  description: Human summary; on failure the same text as C(msg), saying what to check.
  returned: always
  type: str
  sample: "http://110.13.119.7:8081/v1/models (Host: llm.local) answered 200 in 12.4 ms with 1 model(s): ..."
attempts:
  description: Number of C(/v1/models) requests made.
  returned: always
  type: int
  sample: 1
url:
  description: The C(/v1/models) URL that was requested.
  returned: always
  type: str
  sample: http://110.13.119.7:8081/v1/models
cert_not_after:
  description:
    - When the certificate of an C(https) O(url) expires (its C(notAfter)), in UTC, ISO 8601.
    - Null when the certificate could not be read; a warning then says why.
  returned: when O(url) is C(https) and the server answered over TLS
  type: str
  sample: "2027-03-01T12:00:00Z"
cert_days_left:
  description:
    - Whole days until RV(cert_not_after); negative once expired. The module warns under 14 days.
  returned: when O(url) is C(https) and the server answered over TLS
  type: int
  sample: 87
chat:
  description: Results of the chat smoke test.
  returned: when O(chat_model) is set and the model check passed
  type: dict
  contains:
    model:
      description: Model asked for.
      type: str
      returned: always
    stream:
      description: Whether the completion was streamed.
      type: bool
      returned: always
    status:
      description: HTTP status of the chat request, null when none arrived.
      type: int
      returned: always
    ttft_ms:
      description: Milliseconds from sending the request to the first non-empty content delta; null when not streamed or no content came.
      type: float
      returned: always
    chunks:
      description: Number of C(chat.completion.chunk) events received (role, content and final events), V(0) when not streamed.
      type: int
      returned: always
    content_chunks:
      description: Number of events that carried content.
      type: int
      returned: always
    max_gap_ms:
      description: Longest pause between two events; a tunnel that buffers shows one long gap.
      type: float
      returned: always
    total_ms:
      description: Milliseconds from sending the request to the end of the answer.
      type: float
      returned: always
    content:
      description: The text the model answered.
      type: str
      returned: always
    finish_reason:
      description: The C(finish_reason) the server reported.
      type: str
      returned: always
    done:
      description: 'Whether the stream ended with C(data: [DONE]) (always true for a complete non-streamed answer).'
      type: bool
      returned: always
  sample:
    model: Qwen/Qwen3-Coder-30B-A3B-Instruct
    stream: true
    status: 200
    ttft_ms: 180.2
    chunks: 18
    content_chunks: 16
    max_gap_ms: 21.3
    total_ms: 512.9
    content: pong
    finish_reason: length
    done: true
frps_proxies:
  description:
    - The http proxies the frps dashboard lists, null when it could not be read.
    - C(custom_domains), C(subdomain), C(locations) and C(local_ip) are null for offline proxies (frps drops their configuration).
  returned: when O(frps_dashboard_url) is set
  type: list
  elements: dict
  sample:
    - name: llm
      status: online
      custom_domains: [llm.local]
      subdomain: null
      locations: null
      local_ip: 127.0.0.1
      client_version: 0.65.0
      cur_conns: 0
      last_start_time: "11-26 02:01:07"
      last_close_time: ""
"""


from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import url_argument_spec
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_diagnoses import Hints, explain
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_frps import (
    explain_frps_proxies,
    fetch_frps_proxies,
    frps_proxy_state,
)
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_http import (
    USER_AGENT,
    HttpClient,
    excerpt,
    redact,
)
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_openai import (
    chat_smoke_test,
    chat_url,
    models_url,
    probe_models_until,
)
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_tls import CERT_WARN_DAYS, peer_cert_expiry


def argument_spec():
    spec = url_argument_spec()
    spec['url']['required'] = True
    spec['http_agent']['default'] = USER_AGENT
    spec.update(
        host_header=dict(type='str', default='llm.local'),
        api_key=dict(type='str', no_log=True),
        expected_models=dict(type='list', elements='str', default=[]),
        timeout=dict(type='float', default=10),
        ca_path=dict(type='path'),
        wait_timeout=dict(type='float', default=0),
        delay=dict(type='float', default=2),
        chat_model=dict(type='str'),
        chat_prompt=dict(type='str', default='Reply with the single word: pong'),
        chat_stream=dict(type='bool', default=True),
        chat_timeout=dict(type='float', default=120),
        chat_max_tokens=dict(type='int', default=16, no_log=False),
        frps_dashboard_url=dict(type='str'),
        frps_dashboard_user=dict(type='str'),
        frps_dashboard_password=dict(type='str', no_log=True),
        frps_proxy_name=dict(type='str'),
        context=dict(type='dict', options=dict(
            server_host=dict(type='str'),
            client_host=dict(type='str'),
            control_port=dict(type='int'),
            api_local=dict(type='str'),
        )),
    )
    return spec


def _check_params(module):
    p = module.params
    for name in ('url', 'frps_dashboard_url'):
        value = p[name]
        if value is None:
            continue
        parts = urlsplit(value.strip())
        if parts.scheme not in ('http', 'https') or not parts.netloc:
            module.fail_json(msg='%s must be an http:// or https:// URL with a host, got %r' % (name, value), changed=False)
        if '@' in parts.netloc:
            # The result and messages show the URL: credentials in it would be printed.
            module.fail_json(msg='%s must not hold credentials; use api_key or url_username/url_password' % name,
                             changed=False)
    for name in ('timeout', 'chat_timeout'):
        if p[name] <= 0:
            module.fail_json(msg='%s must be greater than 0, got %s' % (name, p[name]), changed=False)
    for name in ('wait_timeout', 'delay', 'chat_max_tokens'):
        if p[name] < 0:
            module.fail_json(msg='%s must not be negative, got %s' % (name, p[name]), changed=False)


def check_certificate(module, client, url, result):
    """Add cert_not_after and cert_days_left for an https url, and warn when it expires soon."""
    parts = urlsplit(url)
    address = '%s:%s' % (parts.hostname, parts.port or 443)
    try:
        not_after, days_left = peer_cert_expiry(parts.hostname, parts.port or 443, client.tls_context(),
                                                client.timeout)
    except Exception as exc:  # the probe itself answered; a failed extra handshake is only worth a warning
        result.update(cert_not_after=None, cert_days_left=None)
        module.warn('Could not read the certificate of %s to check its expiry: %s: %s'
                    % (address, type(exc).__name__, exc))
        return
    result.update(cert_not_after=not_after, cert_days_left=days_left)
    if days_left < 0:
        module.warn('The certificate of %s expired on %s, %d day(s) ago.' % (address, not_after, -days_left))
    elif days_left < CERT_WARN_DAYS:
        module.warn('The certificate of %s expires in %d day(s), on %s: renew it.' % (address, days_left, not_after))


def run_probe(module):
    p = module.params
    secrets = [s for s in (p['api_key'], p['frps_dashboard_password'], p['url_password']) if s]
    host_header = p['host_header'] or ''
    api_key = p['api_key'] or ''
    target = models_url(p['url'])
    hints = Hints(p['context'])
    client = HttpClient.from_params(p)

    probe = probe_models_until(
        p['wait_timeout'], p['delay'], client=client, base_url=p['url'], host_header=host_header,
        api_key=api_key, expected_models=p['expected_models'])
    result = dict(
        changed=False,
        url=target,
        status=probe['status'],
        models=probe['models'],
        missing_models=probe['missing'],
        latency_ms=probe['latency_ms'],
        diagnosis=probe['diagnosis'],
        attempts=probe['attempts'],
    )
    if urlsplit(target).scheme == 'https' and probe['status'] is not None:
        check_certificate(module, client, target, result)

    dashboard_text = None
    notes = []
    if p['frps_dashboard_url']:
        proxies, error = fetch_frps_proxies(client, p['frps_dashboard_url'], p['frps_dashboard_user'] or '',
                                            p['frps_dashboard_password'] or '')
        result['frps_proxies'] = proxies
        route_host = host_header or urlsplit(target).netloc
        if error:
            notes.append(error + '.')
        elif probe['diagnosis'] == 'frp_no_proxy':
            # Only a 404 needs the long explanation; explain() weaves it into the message.
            dashboard_text = explain_frps_proxies(proxies, route_host, hints, p['frps_proxy_name'] or '')
        else:
            notes.append(frps_proxy_state(proxies, route_host, p['frps_proxy_name'] or ''))

    if probe['diagnosis'] != 'ok':
        message = explain(
            probe['diagnosis'], target, host_header, status=probe['status'], detail=probe['detail'],
            body=probe['body'], secrets=secrets, timeout=p['timeout'], models=probe['models'],
            missing=probe['missing'], dashboard_text=dashboard_text, hints=hints)
        if probe['attempts'] > 1:
            message += ' (still failing after %d attempts in %s s)' % (probe['attempts'], p['wait_timeout'])
        if notes:
            message += ' ' + ' '.join(notes)
        return False, redact(message, secrets), result

    summary = '%s (Host: %s) answered %s in %s ms with %d model(s): %s.' % (
        target, host_header or '-', probe['status'], probe['latency_ms'], len(probe['models']),
        ', '.join(probe['models']) or 'none')
    if probe['attempts'] > 1:
        summary += ' Up after %d attempts.' % probe['attempts']
    if result.get('cert_not_after'):
        summary += ' Certificate valid until %s (%d days).' % (result['cert_not_after'], result['cert_days_left'])

    if p['chat_model']:
        outcome = chat_smoke_test(
            client, p['url'], p['chat_model'], p['chat_prompt'], host_header=host_header, api_key=api_key,
            stream=p['chat_stream'], timeout=p['chat_timeout'], max_tokens=p['chat_max_tokens'])
        chat = outcome['chat']
        chat['content'] = redact(chat['content'], secrets)
        result['chat'] = chat
        result['diagnosis'] = outcome['diagnosis']
        if outcome['diagnosis'] != 'ok':
            message = explain(outcome['diagnosis'], chat_url(p['url']), host_header, status=chat['status'],
                              detail=outcome['detail'], body=outcome['body'], secrets=secrets,
                              timeout=p['chat_timeout'], step='POST /v1/chat/completions', hints=hints)
            return False, redact('Models OK: %s Chat smoke test failed: %s' % (summary, message), secrets), result
        if chat['stream']:
            summary += ' Chat %s: first token after %s ms, %d chunks, %s ms in total: %r.' % (
                chat['model'], chat['ttft_ms'], chat['chunks'], chat['total_ms'], excerpt(chat['content'], secrets))
        else:
            summary += ' Chat %s (not streamed): %s ms: %r.' % (
                chat['model'], chat['total_ms'], excerpt(chat['content'], secrets))
    if notes:
        summary += ' ' + ' '.join(notes)
    return True, redact(summary, secrets), result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[('api_key', 'url_username')])
    _check_params(module)
    ok, message, result = run_probe(module)
    result['message'] = message
    if not ok:
        module.fail_json(msg=message, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
