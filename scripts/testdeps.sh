#!/usr/bin/env bash
# testdeps.sh installs the Debian packages make test needs and this
# machine lacks: qemu-user (make arm-test runs the tile's tests under
# qemu-arm), lintian (make deb-test checks the packages) and tshark (the
# capture tests read pcapng files with dist/wireshark/itc.lua). One
# apt-get run, as root; its log shows only when it fails. Without root or
# apt-get it says what to install and fails.
set -euo pipefail
missing=()
command -v qemu-arm >/dev/null 2>&1 || missing+=(qemu-user)
command -v lintian >/dev/null 2>&1 || missing+=(lintian)
command -v tshark >/dev/null 2>&1 || missing+=(tshark)
if ((${#missing[@]} == 0)); then
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "testdeps: make test needs Debian's ${missing[*]}: run as root, or install them (apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "testdeps: installing ${missing[*]} for make test (arm-test, deb-test, the capture tests)"
log=$(mktemp)
# tshark's postinst asks whether users outside root may capture: no.
if ! { echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections &&
	DEBIAN_FRONTEND=noninteractive apt-get update -q &&
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1 ||
	! command -v qemu-arm >/dev/null 2>&1 || ! command -v lintian >/dev/null 2>&1 || ! command -v tshark >/dev/null 2>&1; then
	tail -n 20 "$log" >&2
	echo "testdeps: apt-get could not install Debian's ${missing[*]} (see above); install them and run again" >&2
	exit 1
fi
rm -f "$log"
qemu-arm --version | head -n 1
lintian --version
tshark --version 2>/dev/null | sed -n 1p # sed reads it all: no SIGPIPE under pipefail
