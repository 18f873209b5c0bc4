#!/usr/bin/env bash
# idle-six.sh ITCD [SECONDS]: the idle cost of a tile with six live
# neighbours. Seven `itcd run` on loopback (unlimited UDP links), the centre
# linked to six others; after 5 s, the centre's CPU from /proc (utime +
# stime over SECONDS), the context switches of all its threads, then
# `strace -f -c` for SECONDS (if strace is installed). ONE_CPU=N runs the
# centre on CPU N alone (taskset), as on the tile's one core: Go then runs
# it with GOMAXPROCS=1 too.
set -euo pipefail
bin=${1:?usage: idle-six.sh ITCD [SECONDS]}
secs=${2:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/idle-six.XXXXXX")
port=${PORT:-17400}
dirs=(NE ET SE SW WT NW)
opp=(SW WT NW NE ET SE)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
: >"$work/empty.toml"
links=()
for i in 0 1 2 3 4 5; do links+=(--link "${dirs[$i]}=127.0.0.1:$((port + 1 + i))"); done
pin=()
[ -n "${ONE_CPU:-}" ] && pin=(taskset -c "$ONE_CPU")
"${pin[@]}" "$bin" run --config "$work/empty.toml" --state-dir "$work/c/state" --run-dir "$work/c/run" \
	--udp-listen "127.0.0.1:$port" "${links[@]}" >"$work/c.log" 2>&1 &
centre=$!
pids+=("$centre")
for i in 0 1 2 3 4 5; do
	"$bin" run --config "$work/empty.toml" --state-dir "$work/n$i/state" --run-dir "$work/n$i/run" \
		--udp-listen "127.0.0.1:$((port + 1 + i))" --link "${opp[$i]}=127.0.0.1:$port" >"$work/n$i.log" 2>&1 &
	pids+=($!)
done
sleep 5
echo "live neighbours: $("$bin" status --run-dir "$work/c/run" --json | grep -o '"state": *"live"' | wc -l)"
cpu() { awk '{print $14 + $15}' "/proc/$centre/stat"; }
csw() { cat /proc/"$centre"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
hz=$(getconf CLK_TCK)
c0=$(cpu) s0=$(csw) t0=$(date +%s.%N)
sleep "$secs"
c1=$(cpu) s1=$(csw) t1=$(date +%s.%N)
awk -v c="$((c1 - c0))" -v s="$((s1 - s0))" -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN {
	t = t1 - t0
	printf "cpu: %.3f %% of a core over %.1f s\n", 100 * c / hz / t, t
	printf "context switches (all threads): %.1f /s\n", s / t
}'
if command -v strace >/dev/null; then
	timeout -s INT "$secs" strace -f -c -p "$centre" -o "$work/strace.txt" >/dev/null 2>&1 || true
	cat "$work/strace.txt"
fi
