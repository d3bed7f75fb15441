"""Runs a program on a pseudo-terminal that is its controlling terminal, as
an operator at a shell would, and types one line at each prompt: whenever
the program has shown new output ending in ": " and switched the terminal's
echo off. Prints one JSON object: the exit status, everything the terminal
showed, and the prompt it was stuck at, if any.

    python3 terminal.py LINE [LINE ...] -- PROGRAM [ARG ...]

Waiting for echo to be off, not only for the prompt's text, is what makes a
typed line certain not to be echoed by a program that turns echo off after
printing its prompt.
"""

import json
import os
import pty
import select
import signal
import sys
import termios
import time

TIMEOUT = 20.0


def main() -> None:
    split = sys.argv.index("--")
    lines, program = sys.argv[1:split], sys.argv[split + 1 :]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(program[0], program)

    shown = bytearray()
    open_ = True
    deadline = time.monotonic() + TIMEOUT

    def read(timeout: float) -> None:
        nonlocal open_
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: every copy of the terminal is closed
            data = b""
        if data:
            shown.extend(data)
        else:
            open_ = False

    def echo_is_off() -> bool:
        try:
            return not termios.tcgetattr(fd)[3] & termios.ECHO
        except termios.error:
            return False

    stuck = None
    for number, line in enumerate(lines):
        since = len(shown)
        while open_ and not (shown[since:].endswith(b": ") and echo_is_off()):
            if time.monotonic() > deadline:
                break
            read(0.02)
        if not (open_ and shown[since:].endswith(b": ") and echo_is_off()):
            stuck = number
            break
        os.write(fd, line.encode() + b"\n")

    while open_ and time.monotonic() < deadline:
        read(0.1)
    if open_:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    print(
        json.dumps(
            {
                "status": os.waitstatus_to_exitcode(status),
                "shown": shown.decode("utf-8", "replace"),
                "stuck_at_line": stuck,
            }
        )
    )


if __name__ == "__main__":
    main()
