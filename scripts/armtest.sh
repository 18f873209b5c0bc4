#!/usr/bin/env bash
# Runs the unit tests built for the tile (linux/arm, GOARM=7: 32-bit ints
# and pointers, 64-bit atomics that must be aligned) under qemu-user, one
# package at a time, and prints the time each took and the total.
#
#   scripts/armtest.sh [PKG_PATTERN]              # make arm-test
#   ARM_TESTFLAGS=-short scripts/armtest.sh       # quicker
#   QEMU_ARM=/opt/qemu/bin/qemu-arm scripts/armtest.sh
#
# With -short, two packages at a time but the attack suite alone: two
# emulated binaries that keep links alive with hellos starve each other
# into false disconnects, and under -short only the attack suite does.
# Without -short, one package at a time. -race does
# not exist on linux/arm; vet is the vet target's job. Tests that cannot
# work under emulation skip and say why (internal/emulation).
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
QEMU_ARM=${QEMU_ARM:-qemu-arm}
ARM_TESTFLAGS=${ARM_TESTFLAGS-}
pattern=${1:-./...}

if ! command -v "$QEMU_ARM" >/dev/null 2>&1; then
  echo "armtest: $QEMU_ARM not found: install Debian's qemu-user (apt-get install qemu-user), or set QEMU_ARM" >&2
  exit 1
fi
export GOOS=linux GOARCH=arm GOARM=7 CGO_ENABLED=0

start=$(date +%s)
failed=()
times=()
# run PKG: test one package, recording its time and whether it failed.
run() {
  local pkg=$1 t0 ds
  t0=$(date +%s%N)
  # shellcheck disable=SC2086 # ARM_TESTFLAGS is a list of flags
  if ! $GO test -exec "$QEMU_ARM" -vet=off $ARM_TESTFLAGS -timeout 10m "$pkg" >"$out/$(echo "$pkg" | tr / _).log" 2>&1; then
    echo "$pkg" >>"$out/failed"
  fi
  ds=$(( ($(date +%s%N) - t0) / 100000000 )) # tenths of a second
  printf '%5d.%d s  %s\n' $((ds / 10)) $((ds % 10)) "$pkg" >>"$out/times"
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The attack suite keeps links alive with hellos between real daemons:
# it runs alone. The rest are unit tests that do not mind a neighbour on
# the other core (their grids of daemons skip under -short), two at once.
pkgs=$($GO list "$pattern")
alone=$(echo "$pkgs" | grep -E '/sim/hostile$' || true)
rest=$(echo "$pkgs" | grep -vE '/sim/hostile$' || true)
for pkg in $alone; do run "$pkg"; done
if [ -n "$ARM_TESTFLAGS" ] && [[ " $ARM_TESTFLAGS " == *" -short "* ]]; then
  jobs=2
else
  jobs=1 # every grid runs: one package at a time
fi
export -f run
export GO QEMU_ARM ARM_TESTFLAGS out
echo "$rest" | xargs -r -P "$jobs" -I{} bash -c 'run "$1"' _ {}
cat "$out"/*.log
while read -r line; do times+=("$line"); done < <(sort -k3 "$out/times")
if [ -f "$out/failed" ]; then
  while read -r pkg; do failed+=("$pkg"); done <"$out/failed"
fi

echo "armtest: linux/arm under $QEMU_ARM (flags: ${ARM_TESTFLAGS:-none}), build and run per package:"
printf '  %s\n' "${times[@]}"
echo "armtest: $(( $(date +%s) - start )) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "armtest: FAILED: ${failed[*]}" >&2
  exit 1
fi
