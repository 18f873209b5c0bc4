#!/usr/bin/env bash
# spread-ab.sh OLD NEW [RUNS]: the pushes of issue 13 with two itcd
# binaries, interleaved run by run on one machine, as a new user runs them
# (itcd sim --json). Prints one line per run: binary, case, all_complete_s
# and its ratio to the bound the case is judged by, false disconnects
# during the push, and packets dropped by full inbound queues (and full
# receive queues of in-process tiles); then, per case and binary, the
# runs' ratios: mean, median and standard deviation. At 20% loss one run
# varies by 0.05-0.15 x: compare means of ten runs or more.
# SPREAD_CASES, a regular expression, picks the cases by name (default:
# all; e.g. SPREAD_CASES='loss' for the two lossy ones).
set -euo pipefail
old=$1 new=$2 runs=${3:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/spread-ab.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$new" keygen "$work/k" >/dev/null
head -c 1048576 /dev/urandom >"$work/1m"
head -c 262144 /dev/urandom >"$work/256k"
# Each build packs with its own defaults (the block size is one of them).
for b in old new; do
	bin=$old
	[ "$b" = new ] && bin=$new
	mkdir -p "$work/$b"
	"$bin" pack --key "$work/k.key" --name physics.mfz "$work/1m" "$work/$b/1m.mfz" >/dev/null
	"$bin" pack --key "$work/k.key" --name physics.mfz "$work/256k" "$work/$b/256k.mfz" >/dev/null
done
cases=(
	"6x6-corner|--grid 6x6 --push $work/@/1m.mfz|multipath_bound_s"
	"6x6-centre|--grid 6x6 --at t-2-2 --push $work/@/1m.mfz|multipath_bound_s"
	"20x1|--grid 20x1 --push $work/@/1m.mfz|lower_bound_s"
	"6x6-corner-loss0.05|--grid 6x6 --loss 0.05 --push $work/@/1m.mfz|loss_adjusted_bound_s"
	"4x4-256k-loss0.2|--grid 4x4 --loss 0.2 --push $work/@/256k.mfz|loss_adjusted_bound_s"
	"20x20-256k|--grid 20x20 --push $work/@/256k.mfz|multipath_bound_s"
)
for ((r = 0; r < runs; r++)); do
	for c in "${cases[@]}"; do
		IFS='|' read -r name args bound <<<"$c"
		[[ $name =~ ${SPREAD_CASES:-.} ]] || continue
		for b in old new; do
			bin=$old
			[ "$b" = new ] && bin=$new
			# shellcheck disable=SC2086
			"$bin" sim ${args//@/$b} --trust "$work/k.pub" --until-complete --timeout 5m --json >"$work/out.json" 2>/dev/null || true
			python3 - "$bin" "$name" "$bound" "$work/out.json" <<'PY'
import json, sys
bin, name, bound, path = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception as e:
    print(f"{bin}\t{name}\tno report: {e}")
    sys.exit()
t = d.get("all_complete_s")
b = d.get(bound)
loss = 0.0
disc = sum(1 for e in d.get("events") or [] if e.get("event") == "disconnect")
drop = sum(l.get("in_dropped", 0) + l.get("buffer_dropped", 0) for l in d.get("links") or [])
ratio = f"{t / b:.3f}" if t and b else "-"
print(f"{bin}\t{name}\tall_complete_s={t}\t{bound}={b}\tratio={ratio}\tloss_adjusted={d.get('loss_adjusted_bound_s')}\tdisconnects={disc}\tin_dropped={drop}")
PY
		done
	done
done | tee "$work/runs"
python3 - "$work/runs" <<'PY'
import statistics, sys
ratios, times = {}, {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
    if len(f) > 2 and kv.get("ratio", "-") != "-":
        ratios.setdefault((f[1], f[0]), []).append(float(kv["ratio"]))
        times.setdefault((f[1], f[0]), []).append(float(kv["all_complete_s"]))
for (name, bin), v in sorted(ratios.items()):
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    extra = ""
    clean = times.get(("6x6-corner", bin))
    if name == "6x6-corner-loss0.05" and clean:
        # Issue 13 judges 5% loss against the same grid's lossless time.
        extra = f"\tx_lossless={statistics.mean(times[(name, bin)]) / statistics.mean(clean):.3f}"
    print(f"{name}\t{bin}\tn={len(v)}\tmean={statistics.mean(v):.3f}\tmedian={statistics.median(v):.3f}\tsd={sd:.3f}{extra}")
PY
