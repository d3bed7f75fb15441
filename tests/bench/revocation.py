#!/usr/bin/env python3
"""revocation.py BIN [--trials 1000] [--pg URL] [--listen-url-b URL]:
how long a token revoked on one instance stays usable on another.

Creates a fresh database on the PostgreSQL server URL (default
postgres://postgres@127.0.0.1:5432; dropped afterwards), runs `BIN migrate`
on it, and starts two instances A and B on it with the same
GATEHOUSE_SECRET. Hashing is not what is measured: both run with
GATEHOUSE_BCRYPT_COST=4 (and GATEHOUSE_RATE_LIMITS=off); other GATEHOUSE_*
variables of the caller's environment (GATEHOUSE_AUTH_CACHE_TTL, say) pass
through to both and are named in the output. With --listen-url-b URL,
instance B alone gets GATEHOUSE_LISTEN_URL=URL; a build that does not know
that setting warns and ignores it, and the output says so.

Each trial logs in on A, checks the token with `GET /api/me` on A and
three times on B (all 200: B has now checked and cached it), revokes it on
A at once, then polls B's `GET /api/me` over one keep-alive connection as
fast as it answers, until the first 401. The latency is the end of B's
first 401 minus the end of the revocation (the answer on A, or the exit
of the command). Three kinds of revocation, in turn:
  logout    `POST /api/logout` with the token, on A (204)
  session   a second login of the same user ends the token's session,
            `DELETE /api/sessions/{sid}` on A (204); `sid` is read from the
            token's claims; the second session is logged out afterwards
  disable   `BIN user disable EMAIL` as a process on the same database;
            `BIN user enable EMAIL` before the next such trial (untimed)
Polling stops after 3 s: that trial counts as a timeout.

Since the revocation follows B's check at once, a token cache on B with a
time-to-live shows its whole lifetime here (the worst case); a revocation
pushed to B shows only its delivery. `--jitter-ms X` waits a random 0..X ms
between B's check and the revocation instead.

Prints per kind and overall: trials, p50, p90, p99 and max in ms, how many
exceeded 50 ms and 1000 ms, timeouts, and any unexpected answer.

Run from the project root after `cargo build --release`:
    python3 tests/bench/revocation.py target/release/gatehouse --trials 1000
It prints figures and asserts nothing; run it on a quiet machine.
"""
import argparse
import base64
import json
import os
import random
import re
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import time

import benchlib
from benchlib import PASSWORD, free_port, percentile, pg_urls, psql

POLL_CAP_NS = 3_000_000_000
KINDS = ("logout", "session", "disable")
SET_HERE = {"GATEHOUSE_BIND", "GATEHOUSE_SECRET", "GATEHOUSE_COOKIE_SECURE",
            "GATEHOUSE_RATE_LIMITS", "GATEHOUSE_BCRYPT_COST", "GATEHOUSE_MAIL_DIR",
            "GATEHOUSE_LISTEN_URL"}


def claim(token, name):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))[name]


class Client(benchlib.Client):
    """An instance's client, which can log in."""

    def login(self, email):
        status, data = self.request("POST", "/api/login", {"email": email, "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"login of {email} gave {status}: {data[:200]!r}")
        return json.loads(data)["access_token"]


class Servers:
    def __init__(self, binary, database_url, workdir, listen_url_b):
        self.binary = binary
        self.workdir = workdir
        secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(48))
        self.env = dict(os.environ)
        self.env.pop("GATEHOUSE_LISTEN_URL", None)
        self.env.update(
            DATABASE_URL=database_url,
            GATEHOUSE_SECRET=secret,
            GATEHOUSE_COOKIE_SECURE="false",
            GATEHOUSE_RATE_LIMITS="off",
            GATEHOUSE_BCRYPT_COST="4",
            GATEHOUSE_MAIL_DIR=os.path.join(workdir, "mail"),
        )
        self.listen_url_b = listen_url_b
        self.processes = []
        self.logs = []

    def command(self, *args):
        """Runs BIN ARGS on the database; returns when the process has exited."""
        done = subprocess.run([self.binary, *args], cwd=self.workdir, env=self.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode != 0:
            raise RuntimeError(f"gatehouse {' '.join(args)} exited with {done.returncode}: "
                               f"{done.stderr.decode(errors='replace')[-500:]}")

    def start(self, name, extra=None):
        port = free_port()
        env = dict(self.env, GATEHOUSE_BIND=f"127.0.0.1:{port}", **(extra or {}))
        log_path = os.path.join(self.workdir, f"server-{name}.log")
        log = open(log_path, "wb")
        process = subprocess.Popen([self.binary, "serve"], cwd=self.workdir, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.logs.append(log)
        return port, process, log_path

    def wait_healthy(self, port, process, log_path):
        client = Client(port)
        deadline = time.monotonic() + 30
        while not client.healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                with open(log_path, errors="replace") as f:
                    raise RuntimeError(f"an instance did not come up; its log:\n{f.read()[-2000:]}")
            time.sleep(0.05)
        return client

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()


def poll_until_refused(b, token):
    """Polls B until its first 401; returns (its end in ns or None, polls, other statuses)."""
    started = time.perf_counter_ns()
    polls = 0
    others = {}
    while True:
        status, _ = b.request("GET", "/api/me", token=token)
        now = time.perf_counter_ns()
        polls += 1
        if status == 401:
            return now, polls, others
        if status != 200:
            others[status] = others.get(status, 0) + 1
        if now - started > POLL_CAP_NS:
            return None, polls, others


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bin")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", metavar="URL",
                        help="the PostgreSQL server (a fresh database is made on it)")
    parser.add_argument("--listen-url-b", metavar="URL",
                        help="passed to instance B alone as GATEHOUSE_LISTEN_URL")
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="a random pause of 0..X ms between B's check and the revocation")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)

    workdir = tempfile.mkdtemp(prefix="gatehouse-revocation-")
    name = "gatehouse_revocation_" + secrets.token_hex(6)
    admin_url, database_url = pg_urls(args.pg, name)
    psql(admin_url, f"CREATE DATABASE {name}")
    servers = Servers(binary, database_url, workdir, args.listen_url_b)
    latencies = {kind: [] for kind in KINDS}
    timeouts = {kind: 0 for kind in KINDS}
    polls = {kind: 0 for kind in KINDS}
    unexpected = {}

    def note(what):
        unexpected[what] = unexpected.get(what, 0) + 1

    try:
        servers.command("migrate")
        a_started = servers.start("a")
        extra_b = {"GATEHOUSE_LISTEN_URL": args.listen_url_b} if args.listen_url_b else None
        b_started = servers.start("b", extra_b)
        a = servers.wait_healthy(*a_started)
        b = servers.wait_healthy(*b_started)

        users = {kind: f"revoke-{kind}@example.com" for kind in KINDS}
        for kind, email in users.items():
            status, data = a.request("POST", "/api/register", {
                "username": f"revoke-{kind}", "email": email, "password": PASSWORD})
            if status != 201:
                raise RuntimeError(f"registering {email} gave {status}: {data[:200]!r}")

        for trial in range(args.trials):
            kind = KINDS[trial % len(KINDS)]
            email = users[kind]
            token = a.login(email)
            second = a.login(email) if kind == "session" else None
            checks = [a.request("GET", "/api/me", token=token)[0]]
            checks += [b.request("GET", "/api/me", token=token)[0] for _ in range(3)]
            if any(status != 200 for status in checks):
                note(f"{kind}: token not valid on both instances before the revocation "
                     f"({checks})")
                continue
            if args.jitter_ms:
                time.sleep(random.uniform(0, args.jitter_ms) / 1000)
            if kind == "logout":
                status, _ = a.request("POST", "/api/logout", token=token)
                revoked = time.perf_counter_ns()
                expected = 204
            elif kind == "session":
                status, _ = a.request("DELETE", f"/api/sessions/{claim(token, 'sid')}",
                                      token=second)
                revoked = time.perf_counter_ns()
                expected = 204
            else:
                servers.command("user", "disable", email)
                revoked = time.perf_counter_ns()
                status = expected = 0
            if status != expected:
                note(f"{kind}: the revocation on A answered {status}")
                continue
            refused, count, others = poll_until_refused(b, token)
            polls[kind] += count
            for other, n in others.items():
                note(f"{kind}: B answered {other} while polling")
            if refused is None:
                timeouts[kind] += 1
            else:
                latencies[kind].append((refused - revoked) / 1e6)
            if kind == "session":
                a.request("POST", "/api/logout", token=second)
            elif kind == "disable":
                servers.command("user", "enable", email)
    finally:
        servers.stop()
        ignored = []
        for log_name in ("a", "b"):
            try:
                with open(os.path.join(workdir, f"server-{log_name}.log"), errors="replace") as f:
                    ignored += [f"{log_name.upper()}: {name}" for line in f
                                for name in re.findall(r"GATEHOUSE_[A-Z_]+(?= is not a setting)", line)]
            except FileNotFoundError:
                pass
        psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)

    passed = sorted(k for k in os.environ
                    if k.startswith("GATEHOUSE_") and k not in SET_HERE)
    print(f"cross-instance revocation on PostgreSQL, {args.trials} trials, two instances, "
          f"GATEHOUSE_BCRYPT_COST=4")
    print("instance B: " + (f"GATEHOUSE_LISTEN_URL={args.listen_url_b}" if args.listen_url_b
                            else "no GATEHOUSE_LISTEN_URL")
          + (f"; from the environment: {', '.join(passed)}" if passed else "")
          + (f"; jitter 0..{args.jitter_ms:g} ms" if args.jitter_ms else ""))
    for kind in (*KINDS, "overall"):
        values = sorted(sum(latencies.values(), []) if kind == "overall" else latencies[kind])
        out = timeouts[kind] if kind != "overall" else sum(timeouts.values())
        n_polls = polls[kind] if kind != "overall" else sum(polls.values())
        tried = len(values) + out
        if not values:
            print(f"{kind:<8} trials={tried} timeouts={out}")
            continue
        p50, p90, p99 = (percentile(values, p) for p in (50, 90, 99))
        over50 = sum(1 for v in values if v > 50)
        over1000 = sum(1 for v in values if v > 1000)
        print(f"{kind:<8} trials={tried:<5} p50={p50:.1f} p90={p90:.1f} p99={p99:.1f} "
              f"max={values[-1]:.1f} (ms)  >50ms={over50} >1000ms={over1000} "
              f"timeouts(3s)={out} polls/trial={n_polls / max(tried, 1):.0f}")
    for what in ignored:
        print(f"ignored as not a setting by instance {what}")
    for what, count in sorted(unexpected.items()):
        print(f"unexpected: {what}: {count}")


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as error:
        sys.exit(str(error))
