#!/usr/bin/env bash
# instructions.sh BIN [REQUESTS]: user-space instructions per request of
# `me_page` (GET /me, the auth cookie only, no cookie kept) and `api_me`
# (GET /api/me, bearer), counted by valgrind's callgrind over every thread
# of the server (workers, the log writer, the database threads). Unlike
# requests per second, the count does not move with the machine's load.
# Prints one line per load: `NAME instructions_per_request=…`.
# Settings: REQUESTS (default 2000), KEEP=DIR (keep the callgrind outputs
# there, for callgrind_annotate), and any GATEHOUSE_* variable.
set -euo pipefail
bin=$1
requests=${2:-${REQUESTS:-2000}}
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
server=""
stop() {
  if [ -n "$server" ]; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
trap 'stop; rm -rf "$dir"' EXIT

# The client: one keep-alive connection, REQUESTS requests, each expected to answer 200.
cat > "$dir/client.py" <<'PY'
import http.client, sys
port, path, header, value, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
conn = http.client.HTTPConnection("127.0.0.1", int(port))
for _ in range(count):
    conn.request("GET", path, headers={header: value})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"{path}: {response.status}")
PY

# measure NAME PATH HEADER VALUE: counts from zero while the measured
# requests run (after 200 to warm up), then dumps.
measure() {
  local name=$1 path=$2 header=$3 value=$4 out="$dir/callgrind.$1"
  python3 "$dir/client.py" "$port" "$path" "$header" "$value" 200
  callgrind_control -z "$server" > /dev/null 2>&1
  python3 "$dir/client.py" "$port" "$path" "$header" "$value" "$requests"
  callgrind_control -d "$name" "$server" > /dev/null 2>&1
  sleep 1
  local file
  file=$(ls -t "$dir"/callgrind.out.* | head -1)
  [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$file" "$KEEP/$name.callgrind"
  local total
  total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  echo "$name instructions_per_request=$((total / requests))"
  rm -f "$dir"/callgrind.out.*
}

GATEHOUSE_BIND="127.0.0.1:$port" DATABASE_URL="sqlite://$dir/g.db" GATEHOUSE_RATE_LIMITS=off \
  GATEHOUSE_COOKIE_SECURE=false GATEHOUSE_BCRYPT_COST=${GATEHOUSE_BCRYPT_COST:-4} \
  GATEHOUSE_TOKEN_TTL=2h GATEHOUSE_AUTH_CACHE_TTL=${GATEHOUSE_AUTH_CACHE_TTL:-1s} GATEHOUSE_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')" \
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out.%p" \
  "$bin" serve > "$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 600); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.2; done
curl -sf -o /dev/null -H 'Content-Type: application/json' \
  -d '{"username":"benchuser","email":"bench@example.com","password":"tangerine-kettle-47"}' "$base/api/register"
login=$(curl -sf -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","password":"tangerine-kettle-47"}' "$base/api/login")
token=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$login")

measure me_page /me Cookie "gatehouse_token=$token"
measure api_me /api/me Authorization "Bearer $token"
