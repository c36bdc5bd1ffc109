"""Run localstripe for the tests: ``python -m tests.gateways.localstripe_server``.

localstripe's own command binds every interface and pickles its whole store to one
fixed file in the temporary directory after every write. This launcher keeps the
store in memory only (its save and load are switched off in this process), binds
127.0.0.1 on a free port, and prints ``port=<n>`` on stdout once it listens. Stop it
by its pid (SIGTERM).
"""

from __future__ import annotations

import socket
import sys


def main() -> None:
    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]
    from aiohttp import web
    from localstripe.server import app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    print(f"port={port}", flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    sys.exit(main())
