"""What the Python scripts of tests/bench share: free ports, throwaway
PostgreSQL databases, percentiles."""
import math
import socket
import subprocess
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
