# SIDUS-Go. `make test` and `make demo` work on a fresh Debian 12 machine as
# root: they install what they need (apt packages, the Debian kernel into
# $(SIDUS_CACHE), Go modules).

SIDUS_CACHE ?= /var/cache/sidus-go
export SIDUS_CACHE
GO ?= go
# The package lists are files the Go harness embeds too (one place each):
# the first word of each line that is not a comment ("\043" is awk's #).
packages = $(shell awk 'NF && substr($$1, 1, 1) != "\043" { print $$1 }' $(1))
APT_PACKAGES := $(call packages,qemu/apt-packages.txt)
BENCH_PACKAGES := $(call packages,qemu/bench/apt-packages.txt)
BUILD := build

.PHONY: all deps lint test unit e2e demo initrd bench fuzz clean

all: initrd

# deps installs the apt packages (once: dpkg -s decides) and the Go modules.
# The tests run isc-dhcp-server's dhcpd and tftpd-hpa's in.tftpd in lab
# namespaces only: a policy-rc.d keeps the install from starting their
# host services, which are then disabled, so nothing of theirs listens on
# the host's network.
HOST_SERVICES_OFF := isc-dhcp-server tftpd-hpa
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && \
			trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
		fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing || exit 1; \
		systemctl disable --now $(HOST_SERVICES_OFF) >/dev/null 2>&1 || true; \
		for s in $(HOST_SERVICES_OFF); do \
			if [ -x /etc/init.d/$$s ]; then /etc/init.d/$$s stop >/dev/null 2>&1 || true; fi; \
		done; \
	fi
	$(GO) mod download

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# lint: gofmt, go vet and staticcheck (fetched from the Go module proxy).
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# test runs every test: lint, unit tests and the QEMU end-to-end boots.
test: deps lint
	SIDUS_E2E=1 $(GO) test -count=1 -timeout 85m ./...

unit:
	$(GO) test -count=1 ./initramfs/... ./netconf/... ./overlay/... ./iscsi/... ./blockdev/... ./agent/... ./server/... ./qemu/... ./cmd/...

initrd: deps
	$(GO) run ./cmd/sidus-lab initrd -o $(BUILD)

demo: deps
	$(GO) run ./cmd/sidus-lab demo

# bench compares our initrd with initramfs-tools' and dracut's (3 boots
# per row, down from 5 to make room for the storm), then runs the boot
# storm: 1, 4, 8 and 16 nodes PXE-booted at once, ours and
# initramfs-tools in turn (-storm none skips it), and the root storm: 16
# of ours on the plain NFS tree, a squashfs on NFS and RBD (a Ceph
# cluster in the lab), a metadata walk and a Debian node on each
# (-rootstorm none skips it). It writes BENCHMARKS.md and
# BENCHMARKS-storm.png, in about 35 minutes on 2 cores (see qemu/bench).
bench: deps
	@missing=$$(for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	$(GO) run ./cmd/sidus-lab bench

# fuzz runs FuzzParse for 10^7 executions (outside make test).
fuzz:
	$(GO) test ./initramfs/cmdline -run '^$$' -fuzz FuzzParse -fuzztime 10000000x

clean:
	rm -rf $(BUILD)
