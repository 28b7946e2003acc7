# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenAI-compatible API side of lisyoen.frp.llm_api_probe: GET /v1/models, one chat completion,
and what an HTTP error from the API (LiteLLM in front of vLLM, or vLLM itself) means.

LiteLLM does not say "wrong key" in one way. Recorded from LiteLLM 1.110.2 with only a master key and
no database (tests/unit/fixtures/litellm-1.110.2-responses.json): a wrong key gets 400
{"error": {"type": "no_db_connection", "message": "No connected db."}} (LiteLLM looks any key but the
master key up as a virtual key, and has no database to look in), a missing key 401 auth_error; other
versions answer a missing key with a 500. is_key_error() reads all of these as a key problem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_diagnoses import is_transient
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_frps import is_frp_not_found_page
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_http import classify_exception, excerpt, ms_since

# Error types and message openings that mean "this key is wrong or missing", in a 400 or a 500.
KEY_ERROR_TYPES = frozenset(['auth_error', 'authentication_error', 'invalid_api_key', 'no_db_connection',
                             'token_not_found_in_db'])
KEY_ERROR_MESSAGES = ('authentication error', 'no connected db')
# Worth retrying while waiting for the tunnel, besides the transient diagnoses: the API is starting.
TRANSIENT_STATUSES = frozenset([502, 503])


# --- URLs and requests -------------------------------------------------------------------------------

def models_url(base_url):
    """<base>/v1/models, accepting a base with or without the /v1 that OpenAI clients put in base_url."""
    parts = urlsplit(base_url.strip())
    path = parts.path.rstrip('/')
    if not path.endswith('/v1'):
        path += '/v1'
    return urlunsplit((parts.scheme, parts.netloc, path + '/models', '', ''))


def chat_url(base_url):
    return models_url(base_url)[:-len('/models')] + '/chat/completions'


def api_headers(host_header, api_key, accept='application/json'):
    headers = {'Accept': accept}
    if host_header:
        headers['Host'] = host_header
    if api_key:
        headers['Authorization'] = 'Bearer %s' % api_key
    return headers


# --- reading error answers ---------------------------------------------------------------------------

def error_fields(body):
    """(type, message) of an error body: OpenAI's {"error": {"type", "message"}}, FastAPI's
    {"detail": "..."} or {"error": "..."}; ('', '') for anything else, such as an empty or HTML body."""
    try:
        doc = json.loads(body.decode('utf-8') if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError, TypeError, AttributeError):
        return '', ''
    error = doc.get('error', doc.get('detail')) if isinstance(doc, dict) else None
    if isinstance(error, dict):
        return '%s' % (error.get('type') or ''), '%s' % (error.get('message') or '')
    if isinstance(error, str):
        return '', error
    return '', ''


def from_model_server(body):
    """True when LiteLLM passes on an error it got from the model server ("litellm.<Error>: ...")."""
    return error_fields(body)[1].startswith('litellm.')


def is_key_error(status, body):
    """True when an HTTP error says the API key is wrong or missing, in any of the shapes LiteLLM uses."""
    if from_model_server(body):
        return False  # e.g. the model server refused LiteLLM's own key: not the key the probe sent
    if status in (401, 403):
        return True
    error_type, message = error_fields(body)
    return status in (400, 500) and (
        error_type in KEY_ERROR_TYPES or message.lower().startswith(KEY_ERROR_MESSAGES))


def classify_status(status, body, key_sent=True):
    """Diagnosis for an HTTP answer that is not a 2xx."""
    if is_frp_not_found_page(status, body):
        return 'frp_no_proxy'
    if status == 504:
        return 'gateway_timeout'
    # Some LiteLLM versions answer a request without a key with a bare 500.
    bare_500 = status == 500 and error_fields(body) == ('', '')
    if is_key_error(status, body) or (bare_500 and not key_sent):
        return 'api_key_rejected' if key_sent else 'api_key_missing'
    return 'upstream_error'


def classify_chat_status(status, body, key_sent=True):
    """classify_status, with a 4xx about the request itself (unknown model, bad parameters) as chat_rejected."""
    diagnosis = classify_status(status, body, key_sent)
    if diagnosis == 'upstream_error' and 400 <= status < 500 and status not in (408, 429) \
            and not from_model_server(body):
        return 'chat_rejected'
    return diagnosis


def status_note(status, headers, body):
    """A short explanation to put after the status in an upstream_error or chat_rejected message."""
    if 300 <= status < 400:
        return 'redirect to %s; point url at the final address' % headers.get('location', '?')
    if from_model_server(body):
        if status in (401, 403):
            return ("LiteLLM passed on the model server's refusal of LiteLLM's own key: check api_key in the "
                    "model's litellm_params against the key the model server (vLLM --api-key) expects")
        return "LiteLLM passed on an error from the model server: check it and the model's litellm_params"
    if status == 404:
        return ("a 404 that is not frps' page comes from the API itself: check the path in url, which should "
                "be the server root or end in /v1; or frps serves a custom404Page")
    if status in TRANSIENT_STATUSES:
        return 'the API behind the tunnel is starting or overloaded'
    if status == 429:
        return 'rate limited, or LiteLLM has put the model in cooldown after failures'
    return None


def should_retry(diagnosis, status=None):
    return is_transient(diagnosis) or (diagnosis == 'upstream_error' and status in TRANSIENT_STATUSES)


# --- GET /v1/models ----------------------------------------------------------------------------------

def parse_models(body):
    """Model ids from an OpenAI list body, or None when the body is not one."""
    try:
        doc = json.loads(body.decode('utf-8') if isinstance(body, bytes) else body)
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


def probe_models(client, base_url, host_header='', api_key='', expected_models=()):
    """One GET /v1/models. Returns a dict: status, models, missing, latency_ms, diagnosis, detail, body."""
    reply = client.call(models_url(base_url), headers=api_headers(host_header, api_key))[0]
    result = {'status': reply.status, 'models': [], 'missing': [], 'latency_ms': reply.elapsed_ms,
              'detail': reply.reason, 'body': reply.body}
    if reply.error:
        result['diagnosis'] = reply.error
        return result
    if not 200 <= reply.status < 300:
        result['diagnosis'] = classify_status(reply.status, reply.body, key_sent=bool(api_key))
        result['detail'] = status_note(reply.status, reply.headers, reply.body)
        return result
    models = parse_models(reply.body)
    if models is None:
        result['diagnosis'] = 'not_openai_models'
        return result
    result['models'] = models
    result['missing'] = [m for m in expected_models if m not in models]
    result['diagnosis'] = 'expected_model_missing' if result['missing'] else 'ok'
    return result


def probe_models_until(deadline_s, delay_s, sleep=time.sleep, **kwargs):
    """probe_models, repeated while the failure is transient and the deadline allows another try."""
    start = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        result = probe_models(**kwargs)
        result['attempts'] = attempts
        if not should_retry(result['diagnosis'], result['status']):
            return result
        if time.monotonic() - start + delay_s >= deadline_s:
            return result
        sleep(delay_s)


# --- POST /v1/chat/completions -----------------------------------------------------------------------

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


def chat_smoke_test(client, base_url, model, prompt, host_header='', api_key='', stream=True, timeout=120,
                    max_tokens=16):
    """POST one chat completion and measure it. Returns a dict: diagnosis, chat, detail, body."""
    request = {'model': model, 'messages': [{'role': 'user', 'content': prompt}], 'stream': bool(stream)}
    if max_tokens:
        request['max_tokens'] = max_tokens
    headers = api_headers(host_header, api_key, accept='text/event-stream' if stream else 'application/json')
    headers['Content-Type'] = 'application/json'
    chat = {'model': model, 'stream': bool(stream), 'status': None, 'ttft_ms': None, 'chunks': 0,
            'content_chunks': 0, 'max_gap_ms': None, 'total_ms': None, 'content': '', 'finish_reason': None,
            'done': False}
    outcome = {'diagnosis': 'ok', 'chat': chat, 'detail': None, 'body': b''}
    start = time.monotonic()
    reply, response = client.call(chat_url(base_url), method='POST', headers=headers,
                                  data=json.dumps(request).encode('utf-8'), timeout=timeout, stream=stream)
    chat['status'] = reply.status
    if response is None:
        chat['total_ms'] = ms_since(start)
        outcome['body'] = reply.body
        if reply.error:
            outcome.update(diagnosis=reply.error, detail=reply.reason)
        elif not 200 <= reply.status < 300:
            outcome.update(diagnosis=classify_chat_status(reply.status, reply.body, key_sent=bool(api_key)),
                           detail=status_note(reply.status, reply.headers, reply.body))
        else:
            _read_completion(reply.body, chat, outcome, api_key)
        return outcome
    outcome['diagnosis'], outcome['detail'] = _consume_stream(response, chat, start, timeout, api_key)
    return outcome


def _read_completion(body, chat, outcome, api_key):
    try:
        choice = json.loads(body.decode('utf-8'))['choices'][0]
        chat['content'] = choice['message'].get('content') or ''
        chat['finish_reason'] = choice.get('finish_reason')
    except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError, AttributeError):
        outcome.update(diagnosis='chat_bad_response', detail='not a chat completion: %s' % excerpt(body, (api_key,)))
        return
    chat['done'] = True


def _consume_stream(response, chat, start, timeout, api_key):
    """Read the event stream into chat; return (diagnosis, detail)."""
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
    return diagnosis, detail
