#!/usr/bin/env bash
# Runs the unit tests built for the tile (linux/arm, GOARM=7: 32-bit ints
# and pointers, 64-bit atomics that must be aligned) under qemu-user, one
# package at a time, and prints the time each took and the total.
#
#   scripts/armtest.sh [PKG_PATTERN]              # make arm-test
#   ARM_TESTFLAGS=-short scripts/armtest.sh       # quicker
#   QEMU_ARM=/opt/qemu/bin/qemu-arm scripts/armtest.sh
#
# One package at a time: two emulated test binaries on a 2-core machine
# starve each other, and tests that keep links alive with hellos then see
# false disconnects. Each `go test` still compiles in parallel. -race does
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
for pkg in $($GO list "$pattern"); do
  t0=$(date +%s%N)
  # shellcheck disable=SC2086 # ARM_TESTFLAGS is a list of flags
  if ! $GO test -exec "$QEMU_ARM" -vet=off $ARM_TESTFLAGS -timeout 10m "$pkg"; then
    failed+=("$pkg")
  fi
  ds=$(( ($(date +%s%N) - t0) / 100000000 )) # tenths of a second
  times+=("$(printf '%5d.%d s  %s' $((ds / 10)) $((ds % 10)) "$pkg")")
done

echo "armtest: linux/arm under $QEMU_ARM (flags: ${ARM_TESTFLAGS:-none}), build and run per package:"
printf '  %s\n' "${times[@]}"
echo "armtest: $(( $(date +%s) - start )) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "armtest: FAILED: ${failed[*]}" >&2
  exit 1
fi
