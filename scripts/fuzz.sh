#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each, FUZZJOBS at a
# time, and prints one line a target: executions, the inputs that found new
# coverage, the statement coverage of the target's package reached by the
# seeds plus everything the fuzzer kept, and the time.
#
#   FUZZTIME=20m FUZZJOBS=4 scripts/fuzz.sh [PKG_PATTERN [TARGET_REGEXP]]
#   FUZZLOGS=DIR scripts/fuzz.sh       # the table again, from DIR's logs
#
# go test runs one fuzz target a process; each job is one process with
# -parallel 1, so FUZZJOBS is the number of cores the run takes. A crasher
# is written by go test to the package's testdata/fuzz/TARGET/, where it
# stays as a seed; the script exits non-zero if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZJOBS=${FUZZJOBS:-1}
# FuzzLoop (services/mfz/dist) builds a store for every input, and a
# store fsyncs: on a tmpfs that is 5x faster (about 450 inputs a second
# instead of 80). TMPDIR is /dev/shm when it is writable, unless set.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
# go test spends up to a minute minimizing each input that finds new
# coverage. An input of FuzzLoop takes 2-5 ms (its store), so that minute
# was most of a run: 28,642 inputs in 5 minutes, in stretches of 0 a
# second. FUZZMINIMIZE bounds it.
FUZZMINIMIZE=${FUZZMINIMIZE:-5s}
pattern=${1:-./...}
only=${2:-.}
out=$(mktemp -d /tmp/itcd-fuzz.XXXXXX)
cache=$($GO env GOCACHE)/fuzz

jobs=()
for pkg in $($GO list "$pattern"); do
  for t in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' | grep -E -- "$only" || true); do
    jobs+=("$pkg $t")
  done
done
[ ${#jobs[@]} -gt 0 ] || { echo "no fuzz targets match"; exit 1; }
echo "fuzzing ${#jobs[@]} targets for $FUZZTIME each, $FUZZJOBS at a time; logs in $out"

# Go 1.26's fuzz coordinator can end a run that found nothing with
# "context deadline exceeded" at the -fuzztime boundary (go.dev/issue/75804,
# fixed in Go 1.27). A failure counts only when go test wrote a failing
# input to testdata/fuzz/TARGET; the race is reported as such.
run_one() {
  local pkg=$1 t=$2 log="$out/${2}-$(echo "$1" | tr / _).log"
  local start=$SECONDS td n0 n1
  td="$($GO list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$t"
  n0=$(ls "$td" 2>/dev/null | wc -l)
  if $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZE" -parallel 1 "$pkg" >"$log" 2>&1; then
    echo "ok $((SECONDS - start))" >>"$log"
  else
    n1=$(ls "$td" 2>/dev/null | wc -l)
    if [ "$n1" = "$n0" ] && grep -q 'context deadline exceeded' "$log"; then
      echo "ok(go#75804) $((SECONDS - start))" >>"$log"
    else
      echo "FAILED $((SECONDS - start))" >>"$log"
    fi
  fi
}
export -f run_one
export GO FUZZTIME FUZZMINIMIZE out
if [ -n "${FUZZLOGS:-}" ]; then
  out=$FUZZLOGS # summarise the logs of an earlier run
else
  printf '%s\n' "${jobs[@]}" | xargs -P "$FUZZJOBS" -L 1 bash -c 'run_one "$0" "$1"'
fi

# Coverage: run the target's seeds and the cached corpus as a plain test.
# go test reads a corpus only from testdata/fuzz, so the cached inputs are
# copied there for the run; copied.list names them for removal, also when
# the script is interrupted.
: >"$out/copied.list"
trap 'xargs -r rm -f <"$out/copied.list"' EXIT
coverage() {
  local pkg=$1 t=$2 dir td copied=() pct
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  td="$dir/testdata/fuzz/$t"
  if [ -d "$cache/$pkg/$t" ]; then
    mkdir -p "$td"
    for f in "$cache/$pkg/$t"/*; do
      [ -e "$td/$(basename "$f")" ] && continue
      echo "$td/$(basename "$f")" >>"$out/copied.list"
      cp "$f" "$td/" && copied+=("$td/$(basename "$f")")
    done
  fi
  pct=$($GO test -run "^$t\$" -coverprofile "$out/cover.out" "$pkg" 2>/dev/null | grep -o 'coverage: [0-9.]*%' | head -1 | cut -d' ' -f2 || true)
  for f in "${copied[@]}"; do rm -f "$f"; done
  rmdir "$td" "$dir/testdata/fuzz" "$dir/testdata" 2>/dev/null || true
  echo "${pct:-?}"
}

status=0
printf '%-44s %-26s %12s %10s %9s %8s\n' package target execs new_cov pkg_cov result
for j in "${jobs[@]}"; do
  set -- $j
  log="$out/${2}-$(echo "$1" | tr / _).log"
  last=$(grep -E '^fuzz: elapsed' "$log" | tail -1 || true)
  execs=$(echo "$last" | sed -n 's/.*execs: \([0-9]*\).*/\1/p')
  newc=$(echo "$last" | sed -n 's/.*new interesting: \([0-9]*\).*/\1/p')
  res=$(tail -1 "$log")
  case "$res" in ok*) ;; *) status=1; tail -n 40 "$log" ;; esac
  printf '%-44s %-26s %12s %10s %9s %8s\n' "${1#github.com/t2tiles/itcd/}" "$2" "${execs:-?}" "${newc:-?}" "$(coverage "$1" "$2")" "$res"
done
exit $status
