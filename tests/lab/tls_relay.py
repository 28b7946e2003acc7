"""A TLS-terminating relay, as an inspecting office proxy or whoever holds the home address next.

It answers TLS with its own certificate, opens its own TLS connection onwards (trusting anything, no
client certificate), pumps bytes both ways, and records whether it could read frp's login message in
clear (the "privilege_key" field). The e2e lab runs it on the office router. Stdlib only.

  python3 tls_relay.py --listen 0.0.0.0:7443 --to 10.213.10.10:7000 --cert relay.crt --key relay.key \
      --saw-login /tmp/relay-saw-login
"""

import argparse
import select
import socket
import ssl
import threading


def relay(inside, onward, saw_login):
    """Copies bytes both ways in one thread: an SSL socket must not be read and written from two."""
    other = {inside: onward, onward: inside}
    seen = b""
    for sock in other:
        sock.setblocking(False)
    try:
        while True:
            readable = select.select(list(other), [], [], 120)[0]
            if not readable:
                return
            for sock in readable:
                while True:  # drain what TLS has already decrypted, not only what select saw
                    try:
                        data = sock.recv(65536)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        break
                    if not data:
                        return
                    if sock is inside:
                        seen = (seen + data)[-4096:]
                        if b"privilege_key" in seen:
                            saw_login()
                    dst = other[sock]
                    dst.settimeout(10)
                    dst.sendall(data)
                    dst.setblocking(False)
    except OSError:
        pass
    finally:
        for sock in other:
            sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--saw-login", required=True)
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    to_host, to_port = args.to.rsplit(":", 1)

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(args.cert, args.key)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE

    def saw():
        with open(args.saw_login, "w", encoding="ascii") as f:
            f.write("yes\n")

    listener = socket.create_server((host, int(port)))
    while True:
        raw = listener.accept()[0]
        inside = None
        try:
            inside = server_ctx.wrap_socket(raw, server_side=True)
            onward = client_ctx.wrap_socket(socket.create_connection((to_host, int(to_port)), 10))
        except (OSError, ssl.SSLError):
            # wrap_socket took over raw's descriptor: close what holds it, or the client waits forever.
            (inside or raw).close()
            continue
        threading.Thread(target=relay, args=(inside, onward, saw), daemon=True).start()


if __name__ == "__main__":
    main()
