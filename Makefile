# SIDUS-Go. `make test` and `make demo` work on a fresh Debian 12 machine as
# root: they install what they need (apt packages, the Debian kernel into
# $(SIDUS_CACHE), Go modules).

SIDUS_CACHE ?= /var/cache/sidus-go
export SIDUS_CACHE
GO ?= go
APT_PACKAGES := qemu-system-x86 qemu-utils ipxe-qemu nfs-ganesha nfs-ganesha-vfs rpcbind tgt \
	dnsmasq-base pxelinux syslinux-common kmod cpio busybox-static e2fsprogs xfsprogs btrfs-progs \
	iproute2 file debootstrap
BENCH_PACKAGES := initramfs-tools klibc-utils dracut-core dracut-network
BUILD := build

.PHONY: all deps test unit e2e demo initrd bench clean

all: initrd

# deps installs the apt packages (once: dpkg -s decides) and the Go modules.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	$(GO) mod download

# test runs every test: unit tests and the QEMU end-to-end boots.
test: deps
	SIDUS_E2E=1 $(GO) test -count=1 -timeout 85m ./...

unit:
	$(GO) test -count=1 ./initramfs/... ./overlay/... ./iscsi/... ./qemu/ ./cmd/...

initrd: deps
	$(GO) run ./cmd/sidus-lab initrd -o $(BUILD)

demo: deps
	$(GO) run ./cmd/sidus-lab demo

bench: deps
	@missing=$$(for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	$(GO) run ./cmd/sidus-lab bench

clean:
	rm -rf $(BUILD)
