"""What the Python scripts of tests/bench share: free ports, throwaway
PostgreSQL databases, percentiles, a keep-alive client."""
import http.client
import json
import math
import socket
import subprocess
import time
import urllib.parse

PASSWORD = "tangerine-kettle-47"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_urls(server_url, name):
    """The maintenance database's URL and the URL of database `name`."""
    parts = urllib.parse.urlsplit(server_url)
    return (urllib.parse.urlunsplit(parts._replace(path="/postgres")),
            urllib.parse.urlunsplit(parts._replace(path="/" + name)))


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


def percentile(ordered, p):
    """Nearest rank of a sorted list."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Client:
    """One keep-alive connection to a server on loopback; reconnects once
    if the server closed it."""

    def __init__(self, port, timeout=10):
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def timed(self, method, path, body=None, token=None):
        """(status, body, nanoseconds from sending to the whole answer)."""
        headers = {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            try:
                started = time.perf_counter_ns()
                self.conn.request(method, path, payload, headers)
                answer = self.conn.getresponse()
                data = answer.read()
                return answer.status, data, time.perf_counter_ns() - started
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt == 2:
                    raise
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def request(self, method, path, body=None, token=None):
        """(status, body)."""
        status, data, _ = self.timed(method, path, body, token)
        return status, data

    def healthy(self):
        try:
            return self.request("GET", "/healthz")[0] == 200
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return False
