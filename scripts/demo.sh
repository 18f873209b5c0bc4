#!/usr/bin/env bash
# make demo: a throwaway signing key, a 1 MB demo file, a 4x4 simulated
# grid of T2 tiles at 64 KB/s a link, the push at the top-left tile, live
# progress, and the result next to the physical limit.
set -euo pipefail
itcd=${ITCD:-bin/itcd}
grid=${GRID:-4x4}
work=$(mktemp -d "${TMPDIR:-/tmp}/itcd-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== itcd keygen: a throwaway signing key"
"$itcd" keygen "$work/demo"
echo "== itcd pack: 1 MB of demo physics, signed"
head -c 1048576 /dev/urandom >"$work/physics.bin"
"$itcd" pack --key "$work/demo.key" --name physics.mfz "$work/physics.bin" "$work/physics.mfz"
echo "== itcd sim: a $grid grid, every tile trusting the key; push at t-0-0"
"$itcd" sim --grid "$grid" --rate 64KB/s --trust "$work/demo.pub" \
	--push "$work/physics.mfz" --at t-0-0 --until-complete --timeout 5m \
	--report "${REPORT:-bin/demo-report.svg}"
echo "== the grid drawn by completion time and link load: ${REPORT:-bin/demo-report.svg}"
