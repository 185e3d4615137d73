#!/usr/bin/python3
"""Stand-in for containerd (installed as /usr/local/bin/containerd-standin).

It only creates and holds the CRI socket (default /var/run/containerd/containerd.sock),
accepting and closing connections, so that the stand-in crictl and kubelet can tell
"runtime up" from "runtime down". Stopping containerd.service removes the socket: that
is how tests make crictl fail to reach the runtime. Containers are not run here (the
stand-in kubelet runs them in their own systemd scopes, which outlive this daemon just
as real containers outlive a containerd restart).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "/var/run/containerd/containerd.sock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    os.chmod(path, 0o660)
    server.listen(16)

    def shut_down(*_: object) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        sys.exit(0)

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    print(f"containerd-standin: serving {path}", flush=True)
    while True:
        connection, _ = server.accept()
        connection.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
