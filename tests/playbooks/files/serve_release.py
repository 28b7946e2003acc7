"""Serve a folder on 127.0.0.1 for download.yml, like GitHub's release downloads, then stop by itself.

    python3 serve_release.py FOLDER PORT_FILE

Binds a free port on 127.0.0.1 and writes it to PORT_FILE. Stops on GET /quit or after 120 s.
"""

import functools
import http.server
import sys
import threading

folder, port_file = sys.argv[1], sys.argv[2]


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/quit":
            self.send_response(204)
            self.end_headers()
            threading.Thread(target=self.server.shutdown).start()
            return
        super().do_GET()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=folder))
with open(port_file, "w", encoding="ascii") as f:
    f.write(str(server.server_address[1]))
deadline = threading.Timer(120, server.shutdown)
deadline.daemon = True  # /quit ends the process at once, not after the deadline
deadline.start()
server.serve_forever()
