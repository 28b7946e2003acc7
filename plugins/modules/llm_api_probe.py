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
    LLM API (LiteLLM in front of vLLM) published through an frp C(http) proxy, and checks that the answer is
    an OpenAI model list holding the expected models.
  - Optionally waits for the tunnel to come up, retrying only failures that fix themselves (connection
    refused or reset, frps' own 404 page, HTTP 502, 503 and 504).
  - Optionally posts one chat completion, streamed by default, and measures the time to the first token,
    the number of chunks and the total time.
  - Optionally asks the frps dashboard (C(/api/proxy/http)) which proxies are online, to tell apart the
    causes frps hides behind one 404 page.
  - When a check fails, the module fails with a message that says what is wrong and what to check, and a
    stable RV(diagnosis) code in the result.
  - The module only reads; it never changes anything and always reports RV(ignore:changed=false).
author:
  - lisyoen (@lisyoen)
extends_documentation_fragment:
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
    C(Authorization) header and the Bearer key never reaches the API.
  - The requests are sent from the host the task runs on; use C(delegate_to) to probe from elsewhere.
options:
  url:
    description:
      - Base URL of the API as seen by the client, for example V(http://110.13.119.7:8081).
      - A trailing V(/v1), as OpenAI clients use in C(base_url), is accepted; V(/v1/models) is appended otherwise.
    type: str
    required: true
  host_header:
    description:
      - Value of the C(Host) header; frps routes on it to the proxy whose C(customDomains) hold it.
      - Empty to send the host of O(url) instead.
    type: str
    default: llm.local
  api_key:
    description:
      - 'API key sent as C(Authorization: Bearer <api_key>). No C(Authorization) header when empty or omitted.'
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
  validate_certs:
    description:
      - Verify TLS certificates when O(url) or O(frps_dashboard_url) use C(https).
    type: bool
    default: true
  use_proxy:
    description:
      - Use the proxy from the C(http_proxy)/C(https_proxy) environment variables, if any.
    type: bool
    default: true
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
      - Dashboard user (C(webServer.user)).
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
    - Stable machine-readable outcome. V(ok) on success; on failure the first problem found.
    - V(connection_refused), V(connection_timeout), V(connection_reset), V(connection_closed) (no HTTP answer,
      for example frps' control port), V(connection_error), V(dns_failure), V(tls_error), V(read_timeout).
    - V(frp_no_proxy) (frps' own 404 page), V(api_key_rejected) (401/403), V(gateway_timeout) (504 from frps),
      V(upstream_error) (any other HTTP error), V(not_openai_models), V(expected_model_missing).
    - From the chat smoke test also V(chat_rejected), V(chat_bad_response), V(chat_stream_incomplete), or any
      of the codes above.
  returned: always
  type: str
  sample: frp_no_proxy
message:
  description: Human summary; on failure the same text as C(msg), saying what to check.
  returned: always
  type: str
  sample: "GET /v1/models: http://110.13.119.7:8081/v1/models (Host: llm.local) answered 200 in 12.4 ms ..."
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
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe import (
    chat_smoke_test,
    chat_url,
    excerpt,
    explain,
    explain_frps_proxies,
    fetch_frps_proxies,
    frps_proxy_state,
    models_url,
    probe_models_until,
    redact,
)


def argument_spec():
    return dict(
        url=dict(type='str', required=True),
        host_header=dict(type='str', default='llm.local'),
        api_key=dict(type='str', no_log=True),
        expected_models=dict(type='list', elements='str', default=[]),
        timeout=dict(type='float', default=10),
        validate_certs=dict(type='bool', default=True),
        use_proxy=dict(type='bool', default=True),
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
    )


def _check_params(module):
    p = module.params
    for name in ('url', 'frps_dashboard_url'):
        value = p[name]
        if value is None:
            continue
        parts = urlsplit(value.strip())
        if parts.scheme not in ('http', 'https') or not parts.netloc:
            module.fail_json(msg='%s must be an http:// or https:// URL with a host, got %r' % (name, value), changed=False)
    for name in ('timeout', 'chat_timeout'):
        if p[name] <= 0:
            module.fail_json(msg='%s must be greater than 0, got %s' % (name, p[name]), changed=False)
    for name in ('wait_timeout', 'delay', 'chat_max_tokens'):
        if p[name] < 0:
            module.fail_json(msg='%s must not be negative, got %s' % (name, p[name]), changed=False)


def run_probe(module):
    p = module.params
    secrets = [s for s in (p['api_key'], p['frps_dashboard_password']) if s]
    host_header = p['host_header'] or ''
    api_key = p['api_key'] or ''
    target = models_url(p['url'])

    probe = probe_models_until(
        p['wait_timeout'], p['delay'],
        base_url=p['url'], host_header=host_header, api_key=api_key,
        expected_models=p['expected_models'], timeout=p['timeout'], validate_certs=p['validate_certs'],
        use_proxy=p['use_proxy'],
    )
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

    dashboard_text = None
    notes = []
    if p['frps_dashboard_url']:
        proxies, error = fetch_frps_proxies(
            p['frps_dashboard_url'], p['frps_dashboard_user'] or '', p['frps_dashboard_password'] or '',
            timeout=p['timeout'], validate_certs=p['validate_certs'], use_proxy=p['use_proxy'])
        result['frps_proxies'] = proxies
        route_host = host_header or urlsplit(target).netloc
        if error:
            notes.append(error + '.')
        elif probe['diagnosis'] == 'frp_no_proxy':
            # Only a 404 needs the long explanation; explain() weaves it into the message.
            dashboard_text = explain_frps_proxies(proxies, route_host, p['frps_proxy_name'] or '')
        else:
            notes.append(frps_proxy_state(proxies, route_host, p['frps_proxy_name'] or ''))

    if probe['diagnosis'] != 'ok':
        message = explain(
            probe['diagnosis'], target, host_header, status=probe['status'], detail=probe['detail'],
            body=probe['body'], secrets=secrets, timeout=p['timeout'], models=probe['models'],
            missing=probe['missing'], dashboard_text=dashboard_text)
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

    if p['chat_model']:
        diagnosis, chat, detail = chat_smoke_test(
            p['url'], p['chat_model'], p['chat_prompt'], host_header=host_header, api_key=api_key,
            stream=p['chat_stream'], timeout=p['chat_timeout'], max_tokens=p['chat_max_tokens'],
            validate_certs=p['validate_certs'], use_proxy=p['use_proxy'])
        chat['content'] = redact(chat['content'], secrets)
        result['chat'] = chat
        result['diagnosis'] = diagnosis
        if diagnosis != 'ok':
            message = explain(diagnosis, chat_url(p['url']), host_header,
                              status=chat['status'], detail=detail, secrets=secrets, timeout=p['chat_timeout'],
                              step='POST /v1/chat/completions')
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
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    _check_params(module)
    ok, message, result = run_probe(module)
    result['message'] = message
    if not ok:
        module.fail_json(msg=message, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
