"""A stand-in for kube-apiserver, run on test containers (kube-apiserver cannot be installed here).

Serves HTTPS on the given port with the given certificate: ``GET /healthz`` answers
200 ``ok`` unless the file ``/run/fake-apiserver-unhealthy`` exists (then 500), any
other path answers 200 with this host's name, so a test sees which backend served it.
Python standard library only: it runs with the container's python3.

    python3 fake_apiserver.py PORT CERT KEY
"""

import http.server
import os
import socket
import ssl
import sys

UNHEALTHY_MARK = "/run/fake-apiserver-unhealthy"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            healthy = not os.path.exists(UNHEALTHY_MARK)
            status, body = (200, b"ok") if healthy else (500, b"unhealthy")
        else:
            status, body = 200, socket.gethostname().encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
