"""A TLS-terminating relay, as an inspecting office proxy or whoever holds the home address next.

It answers TLS with its own certificate, opens its own TLS connection onwards (trusting anything, no
client certificate), pumps bytes both ways, and records whether it could read frp's login message in
clear (the "privilege_key" field). The e2e lab runs it on the office router. Stdlib only.

  python3 tls_relay.py --listen 0.0.0.0:7443 --to 10.213.10.10:7000 --cert relay.crt --key relay.key \
      --saw-login /tmp/relay-saw-login
"""

import argparse
import socket
import ssl
import threading


def pump(src, dst, watch=None):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if watch is not None:
                buf = (buf + data)[-4096:]
                if b"privilege_key" in buf:
                    watch()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass


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
        try:
            inside = server_ctx.wrap_socket(raw, server_side=True)
            onward = client_ctx.wrap_socket(socket.create_connection((to_host, int(to_port)), 10))
        except (OSError, ssl.SSLError):
            raw.close()
            continue
        threading.Thread(target=pump, args=(inside, onward, saw), daemon=True).start()
        threading.Thread(target=pump, args=(onward, inside), daemon=True).start()


if __name__ == "__main__":
    main()
