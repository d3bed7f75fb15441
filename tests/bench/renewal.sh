#!/usr/bin/env bash
# renewal.sh BIN [SECONDS]: the page path with a valid access token
# (`me_page`) against silent renewal (every `GET /me` carries only the
# refresh cookie, so each one checks the session, records its use and
# issues a new access token), on one fresh server, back to back.
# Prints one line per load: rps, p50 and p99 in ms, non-200 answers.
set -euo pipefail
bin=$1
secs=${2:-10}
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
GATEHOUSE_BIND="127.0.0.1:$port" DATABASE_URL="sqlite://$dir/g.db" GATEHOUSE_RATE_LIMITS=off \
  GATEHOUSE_COOKIE_SECURE=false GATEHOUSE_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')" \
  "$bin" serve > "$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.1; done
curl -sf -o /dev/null -H 'Content-Type: application/json' \
  -d '{"username":"benchuser","email":"bench@example.com","password":"tangerine-kettle-47"}' "$base/api/register"
login=$(curl -sf -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","password":"tangerine-kettle-47"}' "$base/api/login")
token=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$login")
refresh=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["refresh_token"])' "$login")
# A refresh cookie alone must be served, not sent to log in.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: gatehouse_refresh=$refresh" "$base/me")
[ "$code" = 200 ] || { echo "GET /me with only the refresh cookie gave $code" >&2; exit 1; }
run() {
  local name=$1 cookie=$2 out
  wrk -t2 -c32 -d2s -H "Cookie: $cookie" "$base/me" > /dev/null
  out=$(wrk -t2 -c32 -d"${secs}s" --latency -H "Cookie: $cookie" "$base/me")
  local rps p50 p99 bad
  rps=$(awk '/^Requests\/sec/ {print $2}' <<< "$out")
  p50=$(awk '$1 == "50%" {print $2}' <<< "$out")
  p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<< "$out")
  echo "$name rps=$rps p50=$p50 p99=$p99 non_200=${bad:-0}"
}
run me_page "gatehouse_token=$token"
run renewal "gatehouse_refresh=$refresh"
