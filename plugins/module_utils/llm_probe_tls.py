# -*- coding: utf-8 -*-
# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long the certificate of an https API has left, read by a short TLS handshake of its own.

urllib does not expose the peer certificate of a request, so the probe opens one more connection to
the same host and port with the same SSLContext (same verification, CA bundle and client
certificate), sends the URL's host as SNI, and reads notAfter from what the server presents.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import ssl
import time
from datetime import datetime, timezone

CERT_WARN_DAYS = 14

_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')


def _der_item(der, pos):
    """(tag, start of the content, end of the content) of the DER item at pos."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7f
        length = int.from_bytes(der[pos:pos + size], 'big')
        pos += size
    return tag, pos, pos + length


def der_not_after(der):
    """notAfter of a DER certificate in the form getpeercert() gives, e.g. 'Jun  1 12:00:00 2027 GMT'.

    Needed when the certificate is not verified (validate_certs=false): getpeercert() then returns an
    empty dict and only the DER bytes are available. Certificate > TBSCertificate > [0] version,
    serialNumber, signature, issuer, validity > notBefore, notAfter (RFC 5280, 4.1).
    """
    pos = _der_item(der, 0)[1]           # into Certificate
    pos = _der_item(der, pos)[1]         # into TBSCertificate
    tag, start, end = _der_item(der, pos)
    if tag == 0xa0:                      # explicit version (absent in v1 certificates)
        pos = end
    for dummy in range(3):               # serialNumber, signature, issuer
        pos = _der_item(der, pos)[2]
    pos = _der_item(der, pos)[1]         # into Validity
    pos = _der_item(der, pos)[2]         # past notBefore
    tag, start, end = _der_item(der, pos)
    text = der[start:end].decode('ascii')
    if tag == 0x17:                      # UTCTime, YYMMDDHHMMSSZ: years 50-99 are 19xx
        text = ('19' if int(text[:2]) >= 50 else '20') + text
    year, month, day, hms = text[:4], int(text[4:6]), int(text[6:8]), text[8:14]
    return '%s %2d %s:%s:%s %s GMT' % (_MONTHS[month - 1], day, hms[0:2], hms[2:4], hms[4:6], year)


def peer_cert_expiry(host, port, context, timeout, now=None):
    """Return (not_after ISO 8601 UTC, whole days left) for the certificate host:port presents.

    Raises what the handshake raises (ssl.SSLError, OSError): the caller decides what that means.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            not_after = (tls.getpeercert() or {}).get('notAfter') or der_not_after(tls.getpeercert(True))
    expires = ssl.cert_time_to_seconds(not_after)
    days_left = int((expires - (time.time() if now is None else now)) // 86400)
    iso = datetime.fromtimestamp(expires, timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return iso, days_left
