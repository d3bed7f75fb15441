#!/usr/bin/env bash
# peak-rss.sh LOG CMD...: runs CMD and, when told to stop, appends its peak
# resident memory (VmHWM from /proc, in KiB) to LOG, one line per run:
# the name of the directory it runs in (the scenario) and the peak.
# Used as the TARGET_CMD of ../shared/bench/run-bench.sh (see BENCHMARKS.md).
set -u
log=$1
shift
"$@" &
pid=$!
hwm=0
record() {
  local h
  h=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  [ -n "$h" ] && hwm=$h
}
finish() {
  record
  echo "$(basename "$PWD") $hwm" >> "$log"
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  exit 0
}
trap finish TERM INT
while kill -0 "$pid" 2>/dev/null; do
  record
  sleep 0.2
done
echo "$(basename "$PWD") $hwm" >> "$log"
