# itcd build, test and demo targets. Everything needs only Go.

GO      ?= go
BIN     := bin
PKGS    := ./...
# A tile is a BeagleBone Green: ARM Cortex-A8, linux/arm with GOARM=7.
ARM_ENV := GOOS=linux GOARCH=arm GOARM=7 CGO_ENABLED=0
# VERSION is what `itcd version`, the first log line and the hellos say
# (internal/buildinfo); a build without it says the commit, or "devel".
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X github.com/t2tiles/itcd/internal/buildinfo.Version=$(VERSION)

.PHONY: all build arm deb test testdeps vet race cross arm-test deb-test bench demo fuzz clean

all: build

build:
	$(GO) build -ldflags='$(LDFLAGS)' -o $(BIN)/itcd ./cmd/itcd

# arm cross-builds the tile binary.
arm:
	$(ARM_ENV) $(GO) build -trimpath -ldflags='-s -w $(LDFLAGS)' -o $(BIN)/itcd-linux-armv7 ./cmd/itcd

# deb builds the Debian packages: $(BIN)/itcd_VERSION_armhf.deb for a tile
# and $(BIN)/itcd_VERSION_amd64.deb for a bench machine (scripts/mkdeb,
# with nfpm; VERSION maps to a Debian version there). The files' times are
# the commit's, so a commit builds the same bytes again.
COMMIT_TIME    ?= $(shell git log -1 --format=%ct 2>/dev/null)
DEB_MAINTAINER ?= $(shell git log -1 --format='%an <%ae>' 2>/dev/null)
DEB_LDFLAGS    := -s -w $(LDFLAGS)
deb:
	$(ARM_ENV) $(GO) build -trimpath -ldflags='$(DEB_LDFLAGS)' -o $(BIN)/deb/armhf/itcd ./cmd/itcd
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(DEB_LDFLAGS)' -o $(BIN)/deb/amd64/itcd ./cmd/itcd
	cd scripts/mkdeb && $(GO) run . -describe '$(VERSION)' -date '$(COMMIT_TIME)' -maintainer '$(DEB_MAINTAINER)' \
	  -root ../.. -out ../../$(BIN) armhf=../../$(BIN)/deb/armhf/itcd amd64=../../$(BIN)/deb/amd64/itcd

# test is what CI runs: vet, the unit tests and fuzz seed corpora under the
# race detector, a check that the tile build still compiles, and the unit
# tests built for the tile run under qemu-user. The tests also build
# examples/mfm_client.c with the machine's C compiler (cc) and run it
# against simulated tiles; without cc that test skips and says so. Last,
# the Debian packages are built and checked (deb-test).
test: testdeps vet race cross arm-test deb-test

# testdeps installs the Debian packages the tests need (qemu-user,
# lintian, tshark) when they are missing: as root with apt-get, else it
# says what to install.
testdeps:
	scripts/testdeps.sh

vet:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

race:
	$(GO) test -race -timeout 10m $(PKGS)

cross:
	$(ARM_ENV) $(GO) build $(PKGS)

# arm-test runs the unit tests built for the tile (linux/arm, GOARM=7) under
# qemu-user (Debian's qemu-user package; .ci/run installs it) and prints
# each package's time (scripts/armtest.sh): about two and a half minutes
# on 2 cores. Emulated instructions run 5-30 times slower:
# tests that cannot work under emulation skip and say why, and floods are
# scaled (internal/emulation). By default with -short: the tests of grids
# of real daemons (which the race run covers) skip, except the attack
# suite (sim/hostile), whose hostile lengths and counts matter most on a
# 32-bit tile; ARM_TESTFLAGS= runs them all (about five minutes).
QEMU_ARM      ?= qemu-arm
ARM_TESTFLAGS ?= -short
arm-test:
	GO=$(GO) QEMU_ARM=$(QEMU_ARM) ARM_TESTFLAGS="$(ARM_TESTFLAGS)" scripts/armtest.sh

# deb-test checks the packages (scripts/mkdeb, its own Go module): their
# metadata and files (dpkg-deb), lintian, and the amd64 package installed,
# upgraded, removed and purged in a throwaway root, with and without
# systemd running. It needs Debian's dpkg and lintian and root (chroot,
# mounts in a private namespace); .ci/run installs lintian. Without them
# `go test` there skips; here they are required (ITCD_DEB_TEST=strict).
deb-test:
	cd scripts/mkdeb && $(GO) vet . && ITCD_DEB_TEST=strict $(GO) test -count=1 -timeout 10m .

# bench runs every Go benchmark once; BENCHMARKS.md records the figures.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)

# fuzz runs every fuzz target for FUZZTIME, FUZZJOBS at a time, and prints
# executions, new coverage and package coverage per target
# (scripts/fuzz.sh). The campaign in BENCHMARKS.md: FUZZTIME=20m FUZZJOBS=2.
FUZZTIME ?= 30s
FUZZJOBS ?= 1
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZJOBS=$(FUZZJOBS) scripts/fuzz.sh

# demo runs the main job on a simulated grid: a signed file pushed at one
# tile of a 4x4 grid spreads to every tile (scripts/demo.sh).
demo: build
	ITCD=$(BIN)/itcd scripts/demo.sh

clean:
	rm -rf $(BIN)
