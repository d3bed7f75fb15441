#!/usr/bin/env python3
"""forgot-timing.py BIN [N] [--postgres URL]: does the forgotten-password
answer take the same time whether an account has the address or not?

Starts one fresh server (SQLite in a temporary directory; with --postgres a
fresh database created on that server, e.g. postgres://postgres@127.0.0.1:5432,
and dropped afterwards), with GATEHOUSE_RATE_LIMITS=off (so every request to
a known address is sent its email: no reset limit either), mail written as
.eml files into the temporary directory, everything else at its default.
Registers 20 accounts through the API, waits for their confirmation emails,
then sends N (default 2000) `POST /api/password/forgot` requests for those
addresses and N for fresh addresses no account has (both of one length),
interleaved in random order over one keep-alive connection, after a warm-up
of 100 of each.
Each request is timed from just before it is sent to the end of its answer.

Prints per class (known, unknown): count, p50, p90, p99 and mean in ms;
the ratios known/unknown of p50 and p99; every answer that was not 202; the
same figures split by the class of the request before (the email is made
off the request path, after the answer: work it leaves behind would show
up there); and how many reset emails were written.

Run from the project root after `cargo build --release`:
    python3 tests/bench/forgot-timing.py target/release/gatehouse 2000
    python3 tests/bench/forgot-timing.py target/release/gatehouse 2000 \
        --postgres postgres://postgres@127.0.0.1:5432
It prints figures and asserts nothing; run it on a quiet machine.
"""
import argparse
import os
import random
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import time

from benchlib import PASSWORD, Client, free_port, percentile, pg_urls, psql

ACCOUNTS = 20
WARMUP = 100


def summary(name, times_ns):
    ms = sorted(t / 1e6 for t in times_ns)
    if not ms:
        return f"{name:<28} count=0", None
    p50, p90, p99 = (percentile(ms, p) for p in (50, 90, 99))
    mean = sum(ms) / len(ms)
    line = (f"{name:<28} count={len(ms):<6} p50={p50:.3f} p90={p90:.3f} "
            f"p99={p99:.3f} mean={mean:.3f} (ms)")
    return line, (p50, p99)


def count_mail(directory):
    try:
        return sum(1 for f in os.listdir(directory) if f.endswith(".eml"))
    except FileNotFoundError:
        return 0


def reset_mail(directory):
    count = 0
    for name in os.listdir(directory):
        if name.endswith(".eml"):
            with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
                if "Reset your gatehouse password" in f.read(4096):
                    count += 1
    return count


def wait_for_mail(directory, at_least, seconds):
    deadline = time.monotonic() + seconds
    while count_mail(directory) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    return count_mail(directory)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bin")
    parser.add_argument("n", nargs="?", type=int, default=2000)
    parser.add_argument("--postgres", metavar="URL",
                        help="run on a fresh database of this PostgreSQL server")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)

    workdir = tempfile.mkdtemp(prefix="gatehouse-forgot-")
    mail_dir = os.path.join(workdir, "mail")
    admin_url = None
    if args.postgres:
        name = "gatehouse_forgot_" + secrets.token_hex(6)
        admin_url, database_url = pg_urls(args.postgres, name)
        psql(admin_url, f"CREATE DATABASE {name}")
    else:
        database_url = f"sqlite://{workdir}/gatehouse.db"
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        GATEHOUSE_BIND=f"127.0.0.1:{port}",
        GATEHOUSE_SECRET="".join(secrets.choice(string.ascii_letters + string.digits)
                                 for _ in range(48)),
        GATEHOUSE_COOKIE_SECURE="false",
        GATEHOUSE_RATE_LIMITS="off",
        GATEHOUSE_MAIL_DIR=mail_dir,
    )
    log_path = os.path.join(workdir, "server.log")
    log = open(log_path, "wb")
    server = subprocess.Popen([binary, "serve"], cwd=workdir, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        client = Client(port, timeout=30)
        deadline = time.monotonic() + 30
        while not client.healthy():
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the server did not come up; its log:\n{open(log_path).read()}")
            time.sleep(0.05)

        known = []
        # Known and unknown addresses have one shape and length.
        for _ in range(ACCOUNTS):
            local = f"holder-{secrets.token_hex(8)}"
            email = f"{local}@example.com"
            status, data, _ = client.timed("POST", "/api/register", {
                "username": local, "email": email, "password": PASSWORD})
            if status != 201:
                sys.exit(f"registering {email} gave {status}: {data[:200]!r}")
            known.append(email)
        # The confirmation emails of the registrations, out of the way.
        wait_for_mail(mail_dir, ACCOUNTS, 30)

        def unknown():
            return f"nobody-{secrets.token_hex(8)}@example.com"

        def run(count):
            order = ["known"] * count + ["unknown"] * count
            random.shuffle(order)
            results = []
            for kind in order:
                email = random.choice(known) if kind == "known" else unknown()
                status, _, took = client.timed("POST", "/api/password/forgot", {"email": email})
                results.append((kind, status, took))
            return results

        run(WARMUP)
        results = run(args.n)
        # Every known request makes one email; give the sender time to finish.
        wait_for_mail(mail_dir, ACCOUNTS + WARMUP + args.n, 60)
        resets = reset_mail(mail_dir)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        if admin_url:
            psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)

    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"POST /api/password/forgot on {backend}, {args.n} known + {args.n} unknown "
          f"addresses interleaved, one keep-alive connection (after {WARMUP} + {WARMUP} warm-up)")
    figures = {}
    for kind in ("known", "unknown"):
        line, figures[kind] = summary(kind, [t for k, _, t in results if k == kind])
        print(line)
    if figures["known"] and figures["unknown"]:
        print(f"ratio known/unknown: p50 {figures['known'][0] / figures['unknown'][0]:.3f}, "
              f"p99 {figures['known'][1] / figures['unknown'][1]:.3f}")
    statuses = {}
    for kind, status, _ in results:
        if status != 202:
            statuses[(kind, status)] = statuses.get((kind, status), 0) + 1
    if statuses:
        for (kind, status), count in sorted(statuses.items()):
            print(f"non-202: {kind} status {status}: {count}")
    else:
        print("non-202: none")
    print("by the class of the request before:")
    for before in ("known", "unknown"):
        for kind in ("known", "unknown"):
            times = [results[i][2] for i in range(1, len(results))
                     if results[i - 1][0] == before and results[i][0] == kind]
            print("  " + summary(f"{kind} after {before}", times)[0])
    print(f"reset emails written: {resets} (one per known request, warm-up included: "
          f"{WARMUP + args.n})")


if __name__ == "__main__":
    main()
