#!/usr/bin/env python3
"""startup.py BINARY [RUNS]: time from exec to the first 200 from /healthz.

Creates a SQLite database with a first start (migrations applied), then
starts the server RUNS times (default 10) on that existing database and
prints each time and the median, in milliseconds.
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_once(binary, workdir):
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite://{workdir}/gatehouse.db",
        GATEHOUSE_BIND=f"127.0.0.1:{port}",
        GATEHOUSE_SECRET="s" * 48,
        GATEHOUSE_COOKIE_SECURE="false",
        RUST_LOG="warn",
    )
    url = f"http://127.0.0.1:{port}/healthz"
    started = time.perf_counter()
    server = subprocess.Popen([binary, "serve"], cwd=workdir, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return (time.perf_counter() - started) * 1000
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit("the server exited before it answered")
            time.sleep(0.001)
    finally:
        server.terminate()
        server.wait()


def main():
    binary = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as workdir:
        first = start_once(binary, workdir)
        print(f"first start (creates and migrates the database): {first:.1f} ms")
        times = [start_once(binary, workdir) for _ in range(runs)]
    print("starts on the existing database (ms):", " ".join(f"{t:.1f}" for t in times))
    print(f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")


if __name__ == "__main__":
    main()
