# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lisyoen.frp.llm_api_probe against a real https server on 127.0.0.1 with a throwaway CA.

The `tls` fixture (conftest.py) makes a CA and two server certificates for 127.0.0.1, valid 90 and
10 days, with the cryptography package.
"""

import datetime
import ssl
from pathlib import Path

import pytest

from ansible_collections.lisyoen.frp.plugins.module_utils import llm_probe_tls
from ansible_collections.lisyoen.frp.plugins.modules import llm_api_probe
from llm_probe_servers import API_KEY, MODEL, make_ca_and_certs, simple_response

MODELS = '{"object":"list","data":[{"id":"%s","object":"model","created":1,"owned_by":"openai"}]}' % MODEL


def models_server(scripted, tls_context):
    return scripted(lambda req, srv: simple_response("200 OK", MODELS), tls=tls_context)


def args_for(url, **extra):
    args = {"url": url, "host_header": "llm.local", "api_key": API_KEY, "timeout": 5}
    args.update(extra)
    return args


def test_trusted_certificate_reports_days_left(run_module, scripted, tls):
    server = models_server(scripted, tls[90])
    failed, result = run_module(args_for(server.url, ca_path=tls["ca"]))
    assert not failed, result["msg"]
    assert result["diagnosis"] == "ok" and result["models"] == [MODEL]
    assert result["cert_days_left"] in (89, 90)
    expected = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=90)).strftime("%Y-%m-%d")
    assert result["cert_not_after"].startswith(expected[:8]) and result["cert_not_after"].endswith("Z")
    assert not result.get("warnings")
    assert "Certificate valid until %s" % result["cert_not_after"] in result["message"]
    # The probe's request and the certificate check: two TLS connections, one HTTP request.
    assert len(server.requests) == 1


def test_certificate_expiring_soon_warns(run_module, scripted, tls):
    server = models_server(scripted, tls[10])
    failed, result = run_module(args_for(server.url, ca_path=tls["ca"]))
    assert not failed
    assert result["cert_days_left"] in (9, 10)
    assert len(result["warnings"]) == 1
    assert "expires in %d day(s)" % result["cert_days_left"] in result["warnings"][0]
    assert "127.0.0.1:%d" % server.port in result["warnings"][0]


def test_untrusted_certificate_says_to_pass_the_ca(run_module, scripted, tls):
    server = models_server(scripted, tls[90])
    failed, result = run_module(args_for(server.url))  # the system's trust store does not know the test CA
    assert failed
    assert result["diagnosis"] == "tls_untrusted"
    assert result["status"] is None
    assert "could not be verified" in result["msg"] and "certificate verify failed" in result["msg"]
    assert "as ca_path" in result["msg"]
    assert "cert_days_left" not in result
    assert server.requests == []


def test_without_verification_the_expiry_is_still_read(run_module, scripted, tls):
    # getpeercert() is empty when nothing was verified: the days come from the certificate's DER bytes.
    server = models_server(scripted, tls[10])
    failed, result = run_module(args_for(server.url, validate_certs=False))
    assert not failed
    assert result["cert_days_left"] in (9, 10)
    assert "expires in" in result["warnings"][0]


def test_a_failed_certificate_check_is_only_a_warning(run_module, scripted, tls, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(llm_api_probe, "peer_cert_expiry", refuse)
    server = models_server(scripted, tls[90])
    failed, result = run_module(args_for(server.url, ca_path=tls["ca"]))
    assert not failed and result["diagnosis"] == "ok"
    assert result["cert_days_left"] is None and result["cert_not_after"] is None
    assert "Could not read the certificate" in result["warnings"][0]


def test_https_dashboard_uses_the_same_ca(run_module, scripted, tls):
    api = models_server(scripted, tls[90])
    dash = scripted(lambda req, srv: simple_response("200 OK", '{"proxies": []}'), tls=tls[90])
    failed, result = run_module(args_for(api.url, ca_path=tls["ca"], frps_dashboard_url=dash.url))
    assert not failed
    assert result["frps_proxies"] == []


@pytest.mark.parametrize("days", [90, 13000], ids=["UTCTime", "GeneralizedTime after 2049"])
def test_der_not_after_reads_what_getpeercert_would(tmp_path, days):
    from cryptography import x509

    cert_path = make_ca_and_certs(tmp_path, days=(days,))[1][days][0]
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    der = ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text())
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(
        tzinfo=datetime.timezone.utc)
    text = llm_probe_tls.der_not_after(der)
    assert text.endswith("%d GMT" % not_after.year)
    assert ssl.cert_time_to_seconds(text) == int(not_after.timestamp())
