"""``policyengine serve [PATH]``: the HTTP decision service (Starlette on uvicorn, the ``serve`` extra).

It binds to loopback unless ``--host`` says otherwise, reloads the policies when their files change (keeping the last
good set when a change does not load), and prints where it listens and each reload's outcome on stderr. The service
itself is :mod:`policyengine.service.app`; this module only turns options into it.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

from .common import EXIT_OK, UsageError, add_path, print_diagnostics

HELP = "serve decisions over HTTP (needs policyengine[serve])"
HASH_KEY_ENV = "POLICYENGINE_DECISION_LOG_HASH_KEY"
CACHE_ENV = "POLICYENGINE_CACHE_DIR"  # policyengine.cache.ENV (not imported: --help stays free of the cache module)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8181, help="port to bind (default: 8181; 0 picks a free one)")
    parser.add_argument("--token-file", metavar="F", help="require 'Authorization: Bearer <the token in F>'")
    parser.add_argument("--decision-log", metavar="FILE|-", help="append one JSON line per decision request to FILE "
                                                                 "(- for stdout)")
    parser.add_argument("--log-sample", type=float, default=1.0, metavar="RATE",
                        help="share of decision requests logged, 0 to 1 (default: 1)")
    parser.add_argument("--log-mask", action="append", default=[], metavar="FACT",
                        help="log this fact (or glob: user.*) as [masked]; repeatable")
    parser.add_argument("--log-hash", action="append", default=[], metavar="FACT",
                        help=f"log this fact (or glob) as its SHA-256 (an HMAC keyed by ${HASH_KEY_ENV} when set); "
                             "repeatable")
    parser.add_argument("--max-body", type=int, default=1 << 20, metavar="BYTES",
                        help="largest request body accepted (default: 1048576)")
    parser.add_argument("--no-watch", action="store_true", help="do not reload when the files change")
    parser.add_argument("--cache-dir", metavar="DIR", default=os.environ.get(CACHE_ENV) or None,
                        help="keep each loaded policy set compiled in DIR, so a restart serving the same files skips "
                             f"compiling them (default: ${CACHE_ENV} when set, else no cache)")


def _token(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        token = Path(path).read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--token-file: cannot read {path} ({getattr(err, 'strerror', None) or err})") from None
    if not re.fullmatch(r"[\x21-\x7e]{16,}", token):
        raise UsageError(f"--token-file: {path} must hold one token of at least 16 printable ASCII characters")
    return token


def _decision_log(args: argparse.Namespace) -> Any:
    from ..service.decisionlog import LOGGER_NAME, DecisionLog, JsonLinesFormatter

    if args.decision_log is None:
        return None
    if not 0.0 <= args.log_sample <= 1.0:
        raise UsageError(f"--log-sample: must be between 0 and 1, got {args.log_sample}")
    try:
        handler: logging.Handler = (logging.StreamHandler(sys.stdout) if args.decision_log == "-"
                                    else logging.FileHandler(args.decision_log, encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"--decision-log: cannot open {args.decision_log} ({err.strerror})") from None
    handler.setFormatter(JsonLinesFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the records go to the file, not to whatever the root logger prints
    key = os.environ.get(HASH_KEY_ENV)
    return DecisionLog(logger, sample=args.log_sample, mask=args.log_mask, hash=args.log_hash,
                       hash_key=key.encode() if key else None)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({err.strerror})") from None
    sock.listen(2048)
    return sock


def _report(record: Any) -> None:
    if record.ok:
        print(f"policyengine serve: serving revision {record.revision} ({record.seconds:.2f}s to load)",
              file=sys.stderr, flush=True)
    else:
        print("policyengine serve: the policy files do not load; the last good set keeps serving", file=sys.stderr)
        print_diagnostics(record.diagnostics, sys.stderr)
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..service.app import create_app
        from ..service.live import LivePolicies
    except ImportError as err:
        raise UsageError(f"needs the serve extra: pip install 'policyengine[serve]' ({err})") from None
    if not Path(args.path).exists():
        raise UsageError(f"{args.path}: no such file or directory")
    if args.max_body < 1:
        raise UsageError("--max-body: must be at least 1")
    token = _token(args.token_file)
    log = _decision_log(args)
    if not _loopback(args.host) and token is None:
        print(f"policyengine serve: warning: listening on {args.host} without --token-file: anyone who can reach it "
              "can ask for decisions", file=sys.stderr)
    sock = _bind(args.host, args.port)
    # the first set loads in the background: the port answers at once, and /readyz says when decisions can be asked
    live = LivePolicies(args.path, watch=not args.no_watch, decision_log=log, wait=False, on_load=_report,
                        cache=Path(args.cache_dir) if args.cache_dir else None)
    try:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"policyengine serve: listening on http://{shown}:{port} (policies: {args.path})", file=sys.stderr,
              flush=True)
        # log_config=None: uvicorn's own dictConfig would close every handler configured so far (the decision log's)
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        config = uvicorn.Config(create_app(live, token=token, max_body=args.max_body), log_config=None,
                                access_log=False, lifespan="off", server_header=False)
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down gracefully and raises it again on its way out
        pass
    finally:
        live.close()
        sock.close()
    return EXIT_OK
