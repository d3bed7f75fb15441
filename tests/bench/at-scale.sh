#!/usr/bin/env bash
# at-scale.sh BIN sqlite|postgres [ROWS] [SECONDS]: the page path
# (`me_page`: `GET /me` with a valid `gatehouse_token` cookie, wrk -t2 -c32)
# on an empty database and on one holding ROWS (default 1,000,000) users,
# sessions, denylisted tokens and activity events, on one fresh server.
#
# Phases: (1) empty: a fresh server (SQLite in a temporary directory, or a
# fresh database on $PG_URL, default postgres://postgres@127.0.0.1:5432,
# dropped afterwards), one user registered and logged in ("remember me")
# through the API; (2) seeded: the four tables filled directly with sqlite3
# or psql while that server runs (timed per table), then the same load on
# the same server; (3) restarted: the server stopped and started again on
# the seeded database (start-up timed to the first 200 from /healthz), so
# nothing of it is cached in the process, and the same load once more.
# Each load is a 2 s warm-up, then SECONDS (default 10) measured.
#
# The rows look like real ones and outlive the run (the server purges at
# start and every 10 minutes): users with unique names and addresses and
# bcrypt-shaped hashes of cost 12 ($2b$12$ and 53 characters); one session
# per seeded user, nine in ten remembered (30 days), one in ten not (ended
# by the idle limit about 30 minutes after seeding), none ended; denylisted
# UUID jtis expiring 2 to 24 hours ahead; events spread over the last 89
# days (the retention is 90), in time order. Row counts are printed at the
# end to show what is still there.
#
# Prints per phase: rps, p50 and p99 in ms, non-200 answers, and the
# server's peak RSS (VmHWM from /proc/PID/status: the process's peak so
# far, so phase 2's figure covers phases 1 and 2); the seeded/empty ratios
# of rps, p50 and p99; the seeding times.
#
# Run from the project root after `cargo build --release`:
#     tests/bench/at-scale.sh target/release/gatehouse sqlite
#     tests/bench/at-scale.sh target/release/gatehouse postgres
# It prints figures and asserts nothing; run it on a quiet machine.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,34p' "$0" >&2; exit 2; }
bin=$(realpath "$1")
backend=$2
rows=${3:-1000000}
secs=${4:-10}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
dir=$(mktemp -d)
server=""
pg_db=""
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
cleanup() {
  stop_server
  if [ -n "$pg_db" ]; then
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" > /dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
case "$backend" in
  sqlite) db_url="sqlite://$dir/g.db" ;;
  postgres)
    pg_db="gatehouse_scale_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    psql -q -v ON_ERROR_STOP=1 "$PG_URL/postgres" -c "CREATE DATABASE $pg_db" > /dev/null
    db_url="$PG_URL/$pg_db" ;;
  *) echo "at-scale.sh: the backend is sqlite or postgres" >&2; exit 2 ;;
esac
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=' | head -c 48)
now_ms() { date +%s%3N; }

# Starts the server; sets started_ms, the time from exec to the first 200 from /healthz.
start_server() {
  local t0 i
  t0=$(now_ms)
  ( cd "$dir" && GATEHOUSE_BIND="127.0.0.1:$port" DATABASE_URL="$db_url" GATEHOUSE_RATE_LIMITS=off \
      GATEHOUSE_COOKIE_SECURE=false GATEHOUSE_SECRET="$secret" GATEHOUSE_TOKEN_TTL=2h \
      exec "$bin" serve ) >> "$dir/server.log" 2>&1 &
  server=$!
  for i in $(seq 600); do
    curl -sf -o /dev/null "$base/healthz" && { started_ms=$(( $(now_ms) - t0 )); return 0; }
    kill -0 "$server" 2>/dev/null || break
    sleep 0.05
  done
  echo "the server did not come up; its log:" >&2
  tail -20 "$dir/server.log" >&2
  exit 1
}

hwm() { awk '/^VmHWM/ {print $2}' "/proc/$server/status"; }

# In milliseconds, from wrk's units.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) x = v / 1000; else if (v ~ /ms$/) x = v + 0;
    else if (v ~ /m$/) x = v * 60000; else if (v ~ /s$/) x = v * 1000; else x = v + 0;
    printf "%.3f", x }'
}

# measure NAME: one load; sets rps, p50, p99 and prints the phase's line.
measure() {
  local name=$1 out bad code
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: gatehouse_token=$token" "$base/me")
  [ "$code" = 200 ] || { echo "GET /me gave $code before the $name load" >&2; exit 1; }
  wrk -t2 -c32 -d2s -H "Cookie: gatehouse_token=$token" "$base/me" > /dev/null
  out=$(wrk -t2 -c32 -d"${secs}s" --latency -H "Cookie: gatehouse_token=$token" "$base/me")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<< "$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<< "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<< "$out")")
  bad=$(awk '/Non-2xx/ {print $5}' <<< "$out")
  printf '%-10s rps=%s p50=%sms p99=%sms non_200=%s VmHWM=%s KiB\n' \
    "$name" "$rps" "$p50" "$p99" "${bad:-0}" "$(hwm)"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# run_sql FILE: the backend's client on the database, stopping at the first error.
run_sql() {
  if [ "$backend" = sqlite ]; then
    sqlite3 -bail "$dir/g.db" < "$1" > /dev/null
  else
    psql -q -v ON_ERROR_STOP=1 "$db_url" < "$1" > /dev/null
  fi
}

# seed TABLE: writes the table's statement to a file, runs it, prints the seconds taken.
seed() {
  local table=$1 file="$dir/seed-$1.sql" t0
  seed_sql "$table" > "$file"
  t0=$(now_ms)
  run_sql "$file"
  awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }'
}

# The statement that fills TABLE with $rows rows, in the backend's dialect.
seed_sql() {
  local now agents devices
  now=$(date +%s)
  agents="CASE id % 5
      WHEN 0 THEN 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'
      WHEN 1 THEN 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
      WHEN 2 THEN 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1'
      WHEN 3 THEN 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36'
      ELSE 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15' END"
  devices="CASE id % 5 WHEN 0 THEN 'Firefox on Linux' WHEN 1 THEN 'Chrome on Windows'
      WHEN 2 THEN 'Safari on iOS' WHEN 3 THEN 'Chrome on Android' ELSE 'Safari on macOS' END"
  # Arithmetic in 64 bits: PostgreSQL's ids are 32-bit integers.
  local id="CAST(id AS BIGINT)"
  local ip="'10.' || (($id >> 16) & 255) || '.' || (($id >> 8) & 255) || '.' || ($id & 255)"
  # Session times by kind: nine in ten remembered (started up to 29 days
  # ago, 30-day idle limit and lifetime), one in ten not (started up to an
  # hour ago, used in the last minute, 30-minute idle limit, 12-hour lifetime).
  local sessions_of_users="SELECT id,
        CASE WHEN id % 10 = 0 THEN $now - $id % 3600 - 60 ELSE $now - ($id * 7919) % (29 * 86400) - 60 END AS created,
        CASE WHEN id % 10 = 0 THEN $now - $id % 60 ELSE $now - (($id * 7919) % (29 * 86400) + 60) * (id % 5) / 5 END AS used,
        CASE WHEN id % 10 = 0 THEN 1800 ELSE 30 * 86400 END AS idle,
        CASE WHEN id % 10 = 0 THEN 43200 ELSE 30 * 86400 END AS lifetime,
        id % 10 <> 0 AS remembered
      FROM users WHERE username_key LIKE 'member%'"
  local events_of_users="SELECT id, $now - ($id * 7919) % (89 * 86400) - 1 AS at,
        CASE id % 10 WHEN 0 THEN 'login.failed' WHEN 1 THEN 'logout' WHEN 2 THEN 'session.ended'
          WHEN 3 THEN 'password.changed' WHEN 4 THEN 'email.confirmed' ELSE 'login.succeeded' END AS event,
        $ip AS ip, $devices AS device
      FROM users WHERE username_key LIKE 'member%'"
  if [ "$backend" = sqlite ]; then
    echo ".timeout 60000"
    case "$1" in
      users) cat <<SQL
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $rows)
INSERT INTO users (username, username_key, email, hashed_password, created_at, token_version, email_verified, disabled)
SELECT printf('Member%07d', n), printf('member%07d', n), printf('member%07d@example.org', n),
       '\$2b\$12\$' || substr(hex(randomblob(11)), 1, 22) || lower(substr(hex(randomblob(16)), 1, 31)),
       datetime($now - (n * 7919) % (3 * 365 * 86400), 'unixepoch'), 0, n % 4 <> 0, 0
FROM seq;
SQL
        ;;
      sessions) cat <<SQL
INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_secs, expires_at, remembered, client_ip, user_agent, refresh_hash)
SELECT lower(hex(randomblob(16))), id, created, used, idle, created + lifetime, remembered,
       $ip, $agents, lower(hex(randomblob(32)))
FROM ($sessions_of_users);
SQL
        ;;
      denylisted_tokens) cat <<SQL
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $rows)
INSERT INTO denylisted_tokens (jti, expires_at)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
             || '-' || substr('89ab', 1 + n % 4, 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
       $now + 7200 + (n * 7919) % 79200
FROM seq;
SQL
        ;;
      events) cat <<SQL
INSERT INTO events (user_id, at, event, ip, device)
SELECT id, at, event, ip, device FROM ($events_of_users) ORDER BY at;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
        ;;
    esac
  else
    case "$1" in
      users) cat <<SQL
INSERT INTO users (username, username_key, email, hashed_password, created_at, token_version, email_verified, disabled)
SELECT 'Member' || lpad(n::text, 7, '0'), 'member' || lpad(n::text, 7, '0'), 'member' || lpad(n::text, 7, '0') || '@example.org',
       '\$2b\$12\$' || upper(substr(md5(random()::text), 1, 22)) || substr(md5(random()::text) || md5(n::text), 1, 31),
       to_timestamp($now - (n::bigint * 7919) % (3 * 365 * 86400)) AT TIME ZONE 'utc', 0, n % 4 <> 0, false
FROM generate_series(1, $rows) AS seq(n);
SQL
        ;;
      sessions) cat <<SQL
INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_secs, expires_at, remembered, client_ip, user_agent, refresh_hash)
SELECT md5(random()::text || id::text), id, created, used, idle, created + lifetime, remembered,
       $ip, $agents, md5(random()::text || id::text) || md5(id::text || random()::text)
FROM ($sessions_of_users) AS s;
SQL
        ;;
      denylisted_tokens) cat <<SQL
INSERT INTO denylisted_tokens (jti, expires_at)
SELECT gen_random_uuid()::text, $now + 7200 + (n::bigint * 7919) % 79200
FROM generate_series(1, $rows) AS seq(n);
SQL
        ;;
      events) cat <<SQL
INSERT INTO events (user_id, at, event, ip, device)
SELECT id, at, event, ip, device FROM ($events_of_users) AS e ORDER BY at;
ANALYZE;
SQL
        ;;
    esac
  fi
}

count_rows() {
  local q="SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM sessions), (SELECT count(*) FROM denylisted_tokens), (SELECT count(*) FROM events)"
  if [ "$backend" = sqlite ]; then
    sqlite3 -separator ' ' "$dir/g.db" "$q"
  else
    psql -At -F ' ' "$db_url" -c "$q"
  fi
}

echo "at-scale on $backend: $rows rows each in users, sessions, denylisted_tokens, events; wrk -t2 -c32 -d${secs}s on GET /me"
start_server
first_start=$started_ms
curl -sf -o /dev/null -H 'Content-Type: application/json' \
  -d '{"username":"benchuser","email":"bench@example.com","password":"tangerine-kettle-47"}' "$base/api/register"
login=$(curl -sf -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","password":"tangerine-kettle-47","remember":true}' "$base/api/login")
token=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$login")
echo "start-up on the empty database: ${first_start} ms"

measure empty
empty_rps=$rps empty_p50=$p50 empty_p99=$p99

t_users=$(seed users)
t_sessions=$(seed sessions)
t_denylist=$(seed denylisted_tokens)
t_events=$(seed events)
echo "seeding (s): users $t_users, sessions $t_sessions, denylisted_tokens $t_denylist, events $t_events;" \
  "total $(awk -v a="$t_users" -v b="$t_sessions" -v c="$t_denylist" -v d="$t_events" 'BEGIN { printf "%.1f", a + b + c + d }')"
echo "rows (users sessions denylisted_tokens events): $(count_rows)"

measure seeded
echo "  seeded/empty: rps $(ratio "$rps" "$empty_rps"), p50 $(ratio "$p50" "$empty_p50"), p99 $(ratio "$p99" "$empty_p99")"

stop_server
start_server
restart=$started_ms
echo "start-up on the seeded database: ${restart} ms"
measure restarted
echo "  restarted/empty: rps $(ratio "$rps" "$empty_rps"), p50 $(ratio "$p50" "$empty_p50"), p99 $(ratio "$p99" "$empty_p99")"
echo "rows after the runs (users sessions denylisted_tokens events): $(count_rows)"
