"""``python -m sandbox up|down|build|status``: the demo's sandbox bed.

``up`` replaces any existing sandbox, so it is also the way to change the
member count or switch between IPv4 and IPv6.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from sandbox import SANDBOX_PREFIX, SANDBOX_SUBNET_INDEX, STATE_FILE, bed, save_state
from sandbox.image import IMAGE, ensure_dockerd, ensure_image


def _print_nodes(nodes: list[bed.Node]) -> None:
    for node in nodes:
        state = bed.exec(node, ["systemctl", "is-system-running"]).stdout.strip() or "not running"
        print(f"  {node.pyinfra_host:<24} {node.address:<22} {state}")


def cmd_up(args: argparse.Namespace) -> None:
    ensure_dockerd()
    ensure_image()
    started = time.monotonic()
    nodes = bed.up(SANDBOX_PREFIX, args.members, ipv6=args.ipv6, subnet_index=SANDBOX_SUBNET_INDEX)
    save_state(nodes)
    print(f"sandbox up in {time.monotonic() - started:.1f} s ({STATE_FILE.name} written):")
    _print_nodes(nodes)


def cmd_down(args: argparse.Namespace) -> None:
    bed.down(SANDBOX_PREFIX)
    STATE_FILE.unlink(missing_ok=True)
    print("sandbox removed")


def cmd_build(args: argparse.Namespace) -> None:
    ensure_image(force=args.force)
    print(f"image {IMAGE} is ready")


def cmd_status(args: argparse.Namespace) -> None:
    ensure_dockerd()
    nodes = bed.nodes(SANDBOX_PREFIX)
    recorded = STATE_FILE.exists()
    if not nodes:
        print("no sandbox containers" + (f" (stale {STATE_FILE.name})" if recorded else ""))
        return
    print(f"sandbox {SANDBOX_PREFIX}" + ("" if recorded else f" ({STATE_FILE.name} missing)"))
    _print_nodes(nodes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="(re)create the sandbox and boot its hosts")
    up.add_argument("--members", type=int, default=3, help="number of hosts (default 3)")
    up.add_argument("--ipv6", action="store_true", help="give the hosts IPv6 addresses for etcd")
    up.set_defaults(func=cmd_up)
    commands.add_parser("down", help="remove the sandbox").set_defaults(func=cmd_down)
    build = commands.add_parser("build", help="build the host image if missing")
    build.add_argument("--force", action="store_true", help="rebuild even if it exists")
    build.set_defaults(func=cmd_build)
    commands.add_parser("status", help="show the sandbox hosts").set_defaults(func=cmd_status)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (RuntimeError, ValueError, subprocess.SubprocessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
