# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One health probe of the LLM API through the frp tunnel, run by a systemd timer (lisyoen.frp.tunnel_health).

The probe is lisyoen.frp.llm_api_probe's own run_probe(), shipped beside this file with its
module_utils, so the timer names a failure exactly as verify.yml does. The host needs no Ansible: the
few ansible-core names that code imports come from a stdlib shim. Both are in one file beside this one,
tunnel_health_code.json ({path as imported: source}, rendered by the role), and imported from it.

Each run:
  * probes GET /v1/models (the module's retries of transient failures included);
  * compares the outcome with the state file; on a change (up, down with the diagnosis, back up, or
    still down for another reason) writes one line to stdout, which journald files under the unit,
    and POSTs a JSON event to the webhook URL if one is configured;
  * rewrites the state file (JSON: current state, since when, recent changes, outages in 24 h) and,
    if configured, a Prometheus textfile (node_exporter's textfile collector reads it).
The configuration (API key, webhook URL: secrets) is read from a file, never from the command line.
Exit status: 0 when a probe ran, whatever its outcome; 2 when the configuration is unusable.
"""

from __future__ import absolute_import, division, print_function

import importlib.util
import json
import os
import socket
import ssl
import sys
import tempfile
import time
import urllib.request
from urllib.parse import urlsplit

CODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tunnel_health_code.json')


class BundledCode(object):
    """Imports the modules of CODE from memory: 'ansible/module_utils/basic.py' is ansible.module_utils.basic,
    and each folder on its way a package."""

    def __init__(self, path):
        with open(path, encoding='utf-8') as handle:
            files = json.load(handle)
        self.path = path
        self.sources, self.packages = {}, set()
        for name, source in files.items():
            parts = name[:-len('.py')].split('/')
            if parts[-1] == '__init__':
                parts.pop()
                self.packages.add('.'.join(parts))
            self.sources['.'.join(parts)] = (name, source)
            for depth in range(1, len(parts)):
                self.packages.add('.'.join(parts[:depth]))
                self.sources.setdefault('.'.join(parts[:depth]), ('/'.join(parts[:depth]) + '/__init__.py', ''))

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.sources:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=self.origin(fullname),
                                               is_package=fullname in self.packages)

    def origin(self, fullname):
        return os.path.join(self.path, self.sources[fullname][0])

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = self.origin(module.__name__)
        code = compile(self.get_source(module.__name__), module.__file__, 'exec', dont_inherit=True)
        exec(code, module.__dict__)

    def get_source(self, fullname):
        return self.sources[fullname][1]


# First on the import path: an ansible-core installed on the host must not change the probe.
sys.meta_path.insert(0, BundledCode(CODE))

from ansible_collections.lisyoen.frp.plugins.modules import llm_api_probe  # noqa: E402
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_http import redact  # noqa: E402
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_tls import der_not_after  # noqa: E402

DEFAULT_CONFIG = '/etc/lisyoen-frp/tunnel-health.json'
DAY = 86400
# journald reads a "<N>" prefix on a stdout line as its syslog priority (SyslogLevelPrefix=yes).
ERR, WARNING, NOTICE, INFO = '<3>', '<4>', '<5>', '<6>'


class ConfigError(Exception):
    pass


class ProbeModule(object):
    """What run_probe() and _check_params() use of an AnsibleModule: params, warn, fail_json."""

    def __init__(self, params):
        self.params = params
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, msg, **kwargs):
        raise ConfigError(msg)


def probe_params(options):
    """The module's parameters: its argument_spec() defaults, overridden by the configured options."""
    spec = llm_api_probe.argument_spec()
    unknown = sorted(set(options) - set(spec))
    if unknown:
        raise ConfigError('unknown probe option(s): %s' % ', '.join(unknown))
    params = dict((name, entry.get('default')) for name, entry in spec.items())
    params.update(options)
    if not params.get('url'):
        raise ConfigError('probe.url is required')
    return params


def run_probe(options):
    """(ok, diagnosis, message, result, warnings) from one run of the module's own probe."""
    module = ProbeModule(probe_params(options))
    llm_api_probe._check_params(module)
    ok, message, result = llm_api_probe.run_probe(module)
    return ok, result.get('diagnosis', 'unknown'), message, result, module.warnings


def cert_expiry(paths, copies=None):
    """{path: notAfter epoch seconds} of PEM certificates. A copy under `copies` (the unit's
    RuntimeDirectory, filled by its privileged ExecStartPre: the service user cannot read /etc/frp/tls)
    is read first. Unreadable or broken files are left out."""
    expiry = {}
    for path in paths:
        copy = os.path.join(copies, os.path.basename(path)) if copies else ''
        try:
            with open(copy if copy and os.path.exists(copy) else path) as handle:
                der = ssl.PEM_cert_to_DER_cert(handle.read())
            expiry[path] = int(ssl.cert_time_to_seconds(der_not_after(der)))
        except (OSError, ValueError, IndexError):
            continue
    return expiry


def load_state(path):
    try:
        with open(path) as handle:
            state = json.load(handle)
        if isinstance(state, dict) and state.get('version') == 1:
            return state
    except (OSError, ValueError):
        pass
    return {'version': 1, 'state': 'unknown', 'since': None, 'events': []}


def write_atomic(path, text, mode=0o644):
    folder = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.')
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def clock(epoch):
    return time.strftime('%H:%M', time.localtime(epoch))


def stamp(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%S%z', time.localtime(epoch))


def duration(seconds):
    seconds = int(max(0, seconds))
    if seconds < 120:
        return '%d s' % seconds
    if seconds < 7200:
        return '%d min' % (seconds // 60)
    if seconds < 2 * DAY:
        return '%.1f h' % (seconds / 3600.0)
    return '%.1f days' % (seconds / float(DAY))


def outages_since(events, start):
    return sum(1 for e in events if e.get('state') == 'down' and e.get('new_outage') and e.get('at', 0) >= start)


def summary(state, now):
    """One line for verify.yml: 'down since 14:02 (connection_refused), 3 outages in 24 h'."""
    if state['state'] == 'unknown':
        return 'no probe yet'
    line = '%s since %s (%s)' % (state['state'], clock(state['since']), duration(now - state['since']))
    if state['state'] == 'down':
        line += ', ' + state.get('diagnosis', 'unknown')
    count = state.get('outages_24h', 0)
    return '%s; %d outage%s in 24 h' % (line, count, '' if count == 1 else 's')


def transition_line(previous, state, message, latency_ms, new_cause):
    """The journal line for a change of state; None when nothing changed. While down, a diagnosis not
    yet seen in this outage is a change (new_cause); one that comes back (frp alternates reset and
    closed for the same fault) is not, so a flapping cause does not fill the journal."""
    now_state, diagnosis = state['state'], state.get('diagnosis')
    before = previous.get('state', 'unknown')
    if now_state == 'up':
        if before == 'down':
            return INFO, 'UP again after %s down (down since %s, %s); /v1/models answered in %s ms' % (
                duration(state['since'] - previous['since']), clock(previous['since']),
                ', '.join(previous.get('outage_diagnoses') or [previous.get('diagnosis', 'unknown')]), latency_ms)
        if before == 'unknown':
            return INFO, 'UP: %s' % message
        return None
    if before == 'down' and not new_cause:
        return None
    if before == 'down':
        return ERR, 'STILL DOWN since %s, now %s: %s' % (clock(previous['since']), diagnosis, message)
    return ERR, 'DOWN (%s): %s' % (diagnosis, message)


def post_webhook(url, event, timeout):
    """POST the event as JSON; returns an error text or None. The URL itself is never printed: webhook
    URLs usually carry their secret in the path."""
    where = '%s://%s' % (urlsplit(url).scheme, urlsplit(url).hostname)
    body = json.dumps(event).encode('utf-8')
    request = urllib.request.Request(url, data=body, method='POST', headers={
        'Content-Type': 'application/json', 'User-Agent': 'lisyoen.frp.tunnel_health'})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(4096)
        return None
    except Exception as exc:  # a failing webhook must not stop the health record
        reason = getattr(exc, 'code', None) or getattr(exc, 'reason', None) or exc
        return 'webhook to %s failed: %s: %s' % (where, type(exc).__name__, redact(str(reason), (url,)))


def textfile(state, result, name, expiry, now):
    labels = 'tunnel="%s"' % name.replace('\\', '\\\\').replace('"', '\\"')
    lines = [
        '# HELP lisyoen_frp_tunnel_up 1 when the last probe of the LLM API through the tunnel succeeded.',
        '# TYPE lisyoen_frp_tunnel_up gauge',
        'lisyoen_frp_tunnel_up{%s} %d' % (labels, 1 if state['state'] == 'up' else 0),
        '# HELP lisyoen_frp_tunnel_probe_timestamp_seconds When the last probe ran.',
        '# TYPE lisyoen_frp_tunnel_probe_timestamp_seconds gauge',
        'lisyoen_frp_tunnel_probe_timestamp_seconds{%s} %d' % (labels, now),
        '# HELP lisyoen_frp_tunnel_state_since_timestamp_seconds Since when the tunnel is in its current state.',
        '# TYPE lisyoen_frp_tunnel_state_since_timestamp_seconds gauge',
        'lisyoen_frp_tunnel_state_since_timestamp_seconds{%s} %d' % (labels, state['since']),
        '# HELP lisyoen_frp_tunnel_outages_24h Outages that began in the last 24 hours.',
        '# TYPE lisyoen_frp_tunnel_outages_24h gauge',
        'lisyoen_frp_tunnel_outages_24h{%s} %d' % (labels, state['outages_24h']),
        '# HELP lisyoen_frp_tunnel_probe_latency_seconds Latency of the last /v1/models call.',
        '# TYPE lisyoen_frp_tunnel_probe_latency_seconds gauge',
        'lisyoen_frp_tunnel_probe_latency_seconds{%s} %s' % (labels, (result.get('latency_ms') or 0) / 1000.0),
        '# HELP lisyoen_frp_certificate_expiry_timestamp_seconds notAfter of the tunnel\'s certificates on this host.',
        '# TYPE lisyoen_frp_certificate_expiry_timestamp_seconds gauge',
    ]
    for path, not_after in sorted(expiry.items()):
        lines.append('lisyoen_frp_certificate_expiry_timestamp_seconds{%s,path="%s"} %d' % (labels, path, not_after))
    return '\n'.join(lines) + '\n'


def main(argv):
    path = argv[1] if len(argv) > 1 else DEFAULT_CONFIG
    try:
        with open(path) as handle:
            config = json.load(handle)
        ok, diagnosis, message, result, warnings = run_probe(config.get('probe') or {})
    except (OSError, ValueError, ConfigError) as exc:
        print('%sconfiguration %s unusable: %s' % (ERR, path, exc))
        return 2
    now = int(time.time())
    name = config.get('name') or 'llm-api'
    state_file = config['state_file']
    previous = load_state(state_file)
    state = dict(previous)
    new = 'up' if ok else 'down'
    seen = (previous.get('outage_diagnoses') or [previous.get('diagnosis')]) if previous['state'] == 'down' else []
    new_cause = new == 'down' and previous['state'] == 'down' and diagnosis not in seen
    changed = new != previous['state'] or new_cause
    state['outage_diagnoses'] = (seen + [diagnosis] if diagnosis not in seen else seen) if new == 'down' else []
    if new != previous['state']:
        state['since'] = now
    state.update(state=new, diagnosis=diagnosis, message=message, last_probe=now,
                 latency_ms=result.get('latency_ms'), probes=previous.get('probes', 0) + 1)
    if ok:
        state['last_ok'] = now
    events = [e for e in previous.get('events', []) if e.get('at', 0) >= now - config.get('history_days', 7) * DAY]
    if changed:
        events.append({'at': now, 'state': new, 'diagnosis': diagnosis,
                       'new_outage': new == 'down' and previous['state'] != 'down'})
    state['events'] = events[-int(config.get('history_max', 500)):]
    state['outages_24h'] = outages_since(state['events'], now - DAY)
    state['summary'] = summary(state, now)

    line = transition_line(previous, state, message, result.get('latency_ms'), new_cause)
    if line:
        print('%s%s' % line)
    for warning in warnings:
        print('%s%s' % (WARNING, warning))
    if changed and config.get('webhook_url'):
        error = post_webhook(config['webhook_url'], {
            'tunnel': name, 'host': socket.gethostname(), 'state': new, 'previous': previous['state'],
            'diagnosis': diagnosis, 'message': message, 'at': stamp(now), 'since': stamp(state['since']),
            'outages_24h': state['outages_24h'], 'summary': state['summary'],
        }, float(config.get('webhook_timeout', 5)))
        if error:
            print('%s%s' % (WARNING, error))
    write_atomic(state_file, json.dumps(state, indent=1, sort_keys=True) + '\n')
    if config.get('textfile'):
        expiry = cert_expiry(config.get('cert_files') or [], os.environ.get('RUNTIME_DIRECTORY'))
        write_atomic(config['textfile'], textfile(state, result, name, expiry, now))
    sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
