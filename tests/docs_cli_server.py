"""A warm `policyengine` for tests/test_docs.py: the docs run dozens of CLI commands, and each fresh interpreter
spends most of its time importing. This server imports the CLI once, then forks a child per command; a tiny shim
named `policyengine`, first on the commands' PATH, hands the child its arguments, working directory, environment
and standard streams (file descriptors passed over a Unix socket), and exits with the child's status. The child
runs exactly what the console script runs, `sys.exit(policyengine.cli.main())`, so the output is the CLI's own.

Usage: python docs_cli_server.py SOCKET (the shim is written by `shim_source`). `POLICYENGINE_DOCS_REAL_CLI=1`
makes tests/test_docs.py use the real console script instead.
"""

from __future__ import annotations

import ast
import io
import os
import signal
import socket
import sys
import traceback

CHILD_TIME_LIMIT = 120  # seconds of wall time before a forked command is killed (SIGALRM's default action)


def shim_source(python: str, path: str) -> str:
    """The `policyengine` shim: starts in milliseconds (-IS; a shebang passes one argument), forwards everything to the
    server at `path`."""
    return f"""#!{python} -IS
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect({path!r})
data = repr((sys.argv, os.getcwd(), dict(os.environ))).encode("utf-8", "surrogatepass")
socket.send_fds(sock, [len(data).to_bytes(8, "big")], [0, 1, 2])
sock.sendall(data)
status = b""
while chunk := sock.recv(64):
    status += chunk
sys.exit(int(status) if status.strip() else 1)
"""


def _exit_code(code: object) -> int:
    """What the interpreter's exit status would be for `sys.exit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _stream(fd: int, like: io.TextIOWrapper) -> io.TextIOWrapper:
    """A fresh text stream on `fd`, made as the interpreter makes its standard streams at start-up (the server's
    own ones cached facts about the server's files, such as whether they can seek)."""
    if fd == 0:
        return io.TextIOWrapper(open(0, "rb", closefd=False), encoding=like.encoding, errors=like.errors)
    raw = io.FileIO(fd, "wb", closefd=False)
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    buffer: io.RawIOBase | io.BufferedWriter = raw if unbuffered else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        buffer, encoding=like.encoding, errors=like.errors, newline="\n", line_buffering=raw.isatty(),  # type: ignore[arg-type]
        write_through=unbuffered or fd == 2,
    )


def _child(conn: socket.socket) -> None:
    """Become the command: take over its streams, directory and environment, run the CLI, report the status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the CLI may wait for its own children (git, for diff)
    signal.alarm(CHILD_TIME_LIMIT)
    header, fds, _, _ = socket.recv_fds(conn, 8, 3)
    size = int.from_bytes(header, "big")
    data = b""
    while len(data) < size:
        data += conn.recv(size - len(data))
    argv, cwd, env = ast.literal_eval(data.decode("utf-8", "surrogatepass"))
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = sys.__stdin__ = _stream(0, sys.__stdin__)  # type: ignore[misc,arg-type]
    sys.stdout = sys.__stdout__ = _stream(1, sys.__stdout__)  # type: ignore[misc,arg-type]
    sys.stderr = sys.__stderr__ = _stream(2, sys.__stderr__)  # type: ignore[misc,arg-type]
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = list(argv)
    from policyengine.cli import main

    try:
        code = _exit_code(main())
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        code = code or 120  # the interpreter's status when flushing at exit fails
    conn.sendall(str(code).encode())
    os._exit(code)


def serve(path: str) -> None:
    """Import everything a command needs, then fork one child per connection, forever."""
    from policyengine import cli

    for name in cli.COMMANDS:  # every command module (the CLI imports them lazily), and through them the package
        cli.command_module(name)
    cli.version()  # reads the installed package's metadata once, before forking
    try:
        import z3  # noqa: F401 - the SMT solver, imported by the analyses that need it
    except ImportError:
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path + ".tmp")
    server.listen(64)
    os.rename(path + ".tmp", path)  # the socket appears only once the server accepts: the test waits for it
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        conn, _ = server.accept()
        if os.fork() == 0:
            server.close()
            _child(conn)
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
