# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the unit tests: import paths, a module runner and real HTTP servers on 127.0.0.1.

`python -m pytest tests/unit` from the repository root needs nothing else: the collection is imported
through collections/ansible_collections/lisyoen/frp (a link to the checkout), the fake OpenAI server
from tests/lab, the scripted servers from llm_probe_servers.py beside this file.
"""

import json
import socket
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for extra in (HERE, ROOT / "collections", ROOT / "tests" / "lab"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import fake_openai  # noqa: E402  (needs the paths above)
from llm_probe_servers import (  # noqa: E402
    API_KEY,
    DASH_PASSWORD,
    MODEL,
    ScriptedServer,
    make_ca_and_certs,
    server_tls_context,
)


@pytest.fixture
def scripted():
    """Factory for ScriptedServer instances, all stopped at the end of the test."""
    servers = []

    def make(respond, port=0, tls=None):
        server = ScriptedServer(respond, port, tls)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def fake_api():
    """The lab's fake OpenAI server, in a thread: 6 chunks 30 ms apart keep the chat tests quick."""
    server = fake_openai.start_in_thread(api_keys=[API_KEY], models=[MODEL, "other/small-model"],
                                         default_chunks=6, default_interval_ms=30)
    server.url = "http://127.0.0.1:%d" % server.server_address[1]
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def tls():
    """A throwaway CA and server certificates for 127.0.0.1 it signed, valid 90 and 10 days.

    Returns {"ca": path of the CA's PEM file, 90: server SSLContext, 10: server SSLContext}.
    """
    with tempfile.TemporaryDirectory(prefix="llm-probe-tls-") as directory:
        ca_path, certs = make_ca_and_certs(directory, days=(90, 10))
        contexts = dict((days, server_tls_context(*paths)) for days, paths in certs.items())
        yield dict(contexts, ca=ca_path)


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def unconnectable_port():
    """A port whose accept queue is full, so a new TCP connect times out like a dropped SYN."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    held = []
    while True:
        probe = socket.socket()
        probe.settimeout(0.2)
        try:
            probe.connect(("127.0.0.1", port))
        except socket.timeout:
            probe.close()
            break
        held.append(probe)
        if len(held) > 16:
            pytest.fail("could not fill the accept queue of a local listener")
    yield port
    for sock in held:
        sock.close()
    listener.close()


@pytest.fixture
def run_module(capsys, monkeypatch):
    """Run lisyoen.frp.llm_api_probe's main() in-process; return (failed, result).

    result["warnings"] is always there, as a list of texts.
    """
    from ansible.module_utils.common import warnings as ansible_warnings
    try:
        from ansible.module_utils import _internal as ansible_internal
    except ImportError:  # ansible-core < 2.19
        ansible_internal = None
    from ansible_collections.lisyoen.frp.plugins.modules import llm_api_probe

    def run(args, check_mode=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        # Warnings are kept in a module-level collection that would carry over from the previous run.
        ansible_warnings._global_warnings.clear()
        # ansible-core 2.19+ sends module warnings to the controller's display, not the result, once any
        # controller code is imported in the process (other unit tests do): run as a module does.
        if ansible_internal is not None and hasattr(ansible_internal, "is_controller"):
            monkeypatch.setattr(ansible_internal, "is_controller", False)
        with _module_args(args):
            with pytest.raises(SystemExit) as exc:
                llm_api_probe.main()
        out = capsys.readouterr().out
        result = json.loads(out)
        failed = bool(result.get("failed"))
        assert failed == (exc.value.code != 0)
        # Secrets must not be in any result, whatever happened. Ansible masks exact no_log values,
        # so also look for pieces of them: a truncated body excerpt would slip past that mask.
        for secret in (API_KEY, DASH_PASSWORD):
            for piece in (secret, secret[:10], secret[-10:]):
                assert piece not in out
        # (Ansible's own argument checks fail before the module can say changed=false.)
        assert result.get("changed", False) is False
        # ansible-core 2.19+ returns each warning as a dict with its text in event.msg; older ones a string.
        result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
        return failed, result

    return run


def _module_args(args):
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19
        from unittest import mock

        from ansible.module_utils import basic
        from ansible.module_utils.common.text.converters import to_bytes

        return mock.patch.object(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    return patch_module_args(args)
