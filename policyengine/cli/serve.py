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

from .common import EXIT_OK, UsageError, add_path

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
    parser.add_argument("--bundle", metavar="URL", help="serve the signed bundle at this http(s) URL instead of PATH, "
                                                        "polling it (policyengine bundle; needs --bundle-key)")
    parser.add_argument("--bundle-key", metavar="PUBLIC_KEY", help="the Ed25519 public key (PEM) bundles must be "
                                                                    "signed with")
    parser.add_argument("--bundle-poll", type=float, default=10.0, metavar="SECONDS",
                        help="seconds between polls of --bundle (default: 10; doubling up to 300 while unreachable)")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="worker processes sharing the port, each loading and watching the policies "
                             "(default: one per core)")
    parser.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="close a connection whose request headers are not in within this time, answering 408 "
                             "(default: 10)")
    parser.add_argument("--body-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="the same for a request body once its headers are in (default: 30)")
    parser.add_argument("--idle-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="close a keep-alive connection idle this long (default: 5)")
    parser.add_argument("--shutdown-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="on SIGTERM/SIGINT, let requests in flight finish for at most this long, then exit "
                             "(default: 10)")
    parser.add_argument("--cache-dir", metavar="DIR", default=os.environ.get(CACHE_ENV) or None,
                        help="keep each loaded policy set compiled in DIR, so a restart serving the same files skips "
                             f"compiling them (default: ${CACHE_ENV} when set, else no cache)")


_TOKEN_LIMIT = 4096


def _token(path: str | None) -> str | None:
    """The token in ``path``, read through the bounded reader: a FIFO, a device (``/dev/zero``) or a huge file is
    refused at once, never read until the process hangs or runs out of memory."""
    from ..pipeline.yamlsource import NotReadable, read_regular_file

    if path is None:
        return None
    try:
        token = read_regular_file(path, _TOKEN_LIMIT).decode("utf-8").strip()
    except NotReadable as err:
        raise UsageError(f"--token-file: cannot read {path} ({err.reason})") from None
    except UnicodeDecodeError:
        raise UsageError(f"--token-file: {path} is not UTF-8 text") from None
    if not re.fullmatch(r"[\x21-\x7e]{16,}", token):
        raise UsageError(f"--token-file: {path} must hold one token of at least 16 printable ASCII characters")
    return token


def _check_numbers(args: argparse.Namespace) -> None:
    """Every number option in range (NaN and infinities refused too), before anything starts."""
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: must be between 0 and 65535, got {args.port}")
    if not 0.0 <= args.log_sample <= 1.0:  # false for NaN as well
        raise UsageError(f"--log-sample: must be between 0 and 1, got {args.log_sample}")
    if args.max_body < 1:
        raise UsageError("--max-body: must be at least 1")
    if not 0 <= args.workers <= 1024:
        raise UsageError(f"--workers: must be between 1 and 1024 (0: one per core), got {args.workers}")
    for name in ("header_timeout", "body_timeout", "idle_timeout", "shutdown_timeout"):
        value = getattr(args, name)
        if not 0.0 < value <= 86400.0:
            raise UsageError(f"--{name.replace('_', '-')}: must be more than 0 and at most 86400 seconds, got {value}")


def _decision_log(args: argparse.Namespace) -> Any:
    from ..service.decisionlog import LOGGER_NAME, DecisionLog, JsonLinesFormatter

    if args.decision_log is None:
        return None
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
    # a refused set is logged by LivePolicies itself (a warning naming each file:line:col)
    if record.ok:
        print(f"policyengine serve: serving revision {record.revision} ({record.seconds:.2f}s to load)",
              file=sys.stderr, flush=True)


def _bundle_key(args: argparse.Namespace) -> bytes | None:
    from ..pipeline.yamlsource import NotReadable, read_regular_file

    if args.bundle is None:
        if args.bundle_key is not None:
            raise UsageError("--bundle-key: only with --bundle")
        return None
    if not args.bundle.startswith(("http://", "https://")):
        raise UsageError(f"--bundle: must be an http:// or https:// URL, got {args.bundle}")
    if args.bundle_key is None:
        raise UsageError("--bundle: needs --bundle-key (the public key bundles are signed with)")
    try:
        key = read_regular_file(args.bundle_key, 1 << 16)
    except NotReadable as err:
        raise UsageError(f"--bundle-key: cannot read {args.bundle_key} ({err.reason})") from None
    if not 0.0 < args.bundle_poll <= 86400.0:
        raise UsageError(f"--bundle-poll: must be more than 0 and at most 86400 seconds, got {args.bundle_poll}")
    return key


def run(args: argparse.Namespace) -> int:
    bundle_key = _bundle_key(args)
    if bundle_key is None and not Path(args.path).exists():
        raise UsageError(f"{args.path}: no such file or directory")
    _check_numbers(args)
    if bundle_key is not None:
        from ..service.bundle import BundleError, load_public_key

        try:
            load_public_key(bundle_key)
        except BundleError as err:
            raise UsageError(f"--bundle-key: {err}") from None
    token = _token(args.token_file)
    from ..service.workers import default_workers, prepare_metrics_dir

    workers = args.workers or default_workers()
    # several workers share their metrics through files: named before prometheus_client is first imported
    metrics_dir = prepare_metrics_dir() if workers > 1 else None
    try:
        import uvicorn

        from ..service.app import create_app
        from ..service.live import LivePolicies
        from ..service.protocol import protocol_class
        from ..service.workers import supervise
    except ImportError as err:
        raise UsageError(f"needs the serve extra: pip install 'policyengine[serve]' ({err})") from None
    log = _decision_log(args)
    if not _loopback(args.host) and token is None:
        print(f"policyengine serve: warning: listening on {args.host} without --token-file: anyone who can reach it "
              "can ask for decisions", file=sys.stderr)
    sock = _bind(args.host, args.port)
    # before the first load, whose refusal (a warning) must reach stderr
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"policyengine serve: listening on http://{shown}:{port} (policies: {args.bundle or args.path}, "
          f"{workers} worker{'s' if workers > 1 else ''})", file=sys.stderr, flush=True)

    def worker() -> int:
        apps: list[Any] = []

        def loaded(record: Any) -> None:
            _report(record)
            if apps:
                apps[0].state.service.metrics.sync()

        # the first set loads in the background: the port answers at once, and /readyz says when to ask
        live = LivePolicies(args.bundle or args.path, watch=not args.no_watch, decision_log=log, wait=False,
                            on_load=loaded, cache=Path(args.cache_dir) if args.cache_dir else None,
                            bundle_key=bundle_key, poll_seconds=args.bundle_poll)
        try:
            apps.append(create_app(live, token=token, max_body=args.max_body))
            # log_config=None: uvicorn's own dictConfig would close every handler configured so far (the decision
            # log's)
            config = uvicorn.Config(apps[0], log_config=None, access_log=False, lifespan="off", server_header=False,
                                    http=protocol_class(args.header_timeout, args.body_timeout),
                                    timeout_keep_alive=max(1, round(args.idle_timeout)),
                                    timeout_graceful_shutdown=max(1, round(args.shutdown_timeout)))
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down gracefully and raises it again on its way out
            pass
        finally:
            live.close()
        return EXIT_OK

    try:
        return worker() if workers == 1 else supervise(workers, worker, metrics_dir)
    finally:
        sock.close()
