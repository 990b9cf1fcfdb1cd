# SPDX-License-Identifier: GPL-2.0
#
# vmlayout: build the test kernel and the module, boot, check. See README.md.
#
#   make run       build everything, boot, load vmlayout, print its report
#   make check     every test (host, style, lint, in-VM kselftest, both paging modes)
#   make kernel    build or reuse the cached test kernel; prints its build dir last
#   make module    build vmlayout.ko out of tree (KDIR=<kernel build dir> for your own kernel)
#   make intree    vmlayout as a patch series against a kernel tree (KSRC=, OUT=)
#   make rustdoc   the module's rustdoc (in tree, no warning allowed)
#   make vm        boot the test kernel and run CMD in it
#   make check-kasan  vmlayout built in, on a KASAN build: kselftest, stress, KUnit (kunit.py)
#   make check-debug  kselftest, stress, fault injection, lockdown on a debug build
#   make check-defconfig  defconfig kernel under OVMF: kselftest, both paging modes, PTI on and off
#   make check-kernel KDIR=<your kernel build>  the kselftest on your own kernel
#   make check-distro  `vmlayout check` on Debian's own 7.x and 6.12 kernels, under OVMF
#   make bench     benchmarks (see Documentation/vmlayout/)
#   make profile   where a scan's time goes under TCG: the guest's RIP sampled through QEMU's gdbstub
#   make reporter  the static `vmlayout` userspace tool (report, snapshot, diff, draw, kaslr)
#   make kaslr BOOTS=N PAGING="4 5"  KASLR statistics over N boots per paging mode

SHELL := /bin/bash
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
TOOLS := $(TOP)/tools/vmlayout
SELFTEST := $(TOP)/tools/testing/selftests/vmlayout
export VMLAYOUT_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vmlayout
export PATH := $(HOME)/.cargo/bin:$(PATH)
# Host Rust builds (the core's tests, mmgen, the vmlayout tool) live in the
# cache too, one directory per checkout: cargo names a path crate's outputs
# by its path inside the workspace, so two clones sharing one directory
# would each see the other's build as up to date (measured: a second clone's
# `make reporter` kept the first clone's binary).
export CARGO_TARGET_DIR ?= $(VMLAYOUT_CACHE)/cargo-target-$(shell echo $(TOP) | sha256sum | cut -c1-8)
export LIBCLANG_PATH ?= /usr/lib/llvm-19/lib
# Anything built against a kernel is built with the compiler that built it,
# read from its .config (tools/vmlayout/kdir-cc.sh); LLVM= or CC= on this
# command line overrides that (`make module KDIR=... LLVM=`).
cc_override := $(strip $(if $(filter command line,$(origin LLVM)),LLVM=$(LLVM)) \
	$(if $(filter command line,$(origin CC)),CC=$(CC)))
ifneq ($(cc_override),)
export VMLAYOUT_CC := $(cc_override)
endif
# In a recipe: `$(kcc) && $(MAKE) -C $(kdir) $$cc ...`.
kcc = cc=$$($(TOOLS)/kdir-cc.sh $(kdir))
KSRC ?=
export KSRC

PAGING ?= 5
SMP ?= 2
MEM ?= 2G
APPEND ?=
FILES ?=
CMD ?= sh

# The kernel build directory: given, or the cached test kernel.
KDIR_STAMP := $(VMLAYOUT_CACHE)/last-kdir
kdir = $(or $(KDIR),$(shell cat $(KDIR_STAMP) 2>/dev/null))

.PHONY: all deps kernel module install install-dkms reporter kaslr intree gen run check check-host check-style check-clippy \
	check-vm check-intree rustdoc check-series check-kasan check-debug check-defconfig check-kernel check-distro \
	vm bench profile clean

all: module

deps:
	@$(TOOLS)/host-deps.sh

# VARIANT=name: the variant config.name instead (its build directory is
# printed, and the test kernel stays the one other targets use).
kernel: deps
	@mkdir -p $(VMLAYOUT_CACHE)
ifeq ($(VARIANT),)
	@set -o pipefail; $(TOOLS)/build-kernel.sh | tail -n1 > $(KDIR_STAMP).tmp && \
		mv $(KDIR_STAMP).tmp $(KDIR_STAMP) && cat $(KDIR_STAMP)
else
	@$(TOOLS)/build-kernel.sh $(VARIANT) | tail -n1
endif

# Generate the documented maps from the kernel tree the module is built against.
MM_DOC = $(firstword $(wildcard $(kdir)/source/Documentation/arch/x86/x86_64/mm.rst \
	$(kdir)/Documentation/arch/x86/x86_64/mm.rst))
GENERATED := $(TOP)/rust/vmlayout_core/generated_maps.rs
gen: $(if $(KDIR),,kernel)
	@test -n "$(kdir)" || { echo "no kernel: run 'make kernel' or pass KDIR=" >&2; exit 1; }
	@test -n "$(MM_DOC)" || { echo "$(kdir): no Documentation/arch/x86/x86_64/mm.rst" >&2; exit 1; }
	@cd $(TOOLS) && cargo run -q --release --bin mmgen -- $(GENERATED).tmp \
		"mm.rst=$(MM_DOC):Documentation/arch/x86/x86_64/mm.rst" \
		"mm.txt-4.x=$(TOP)/Documentation/vmlayout/mm-historical.txt:mm.txt (Linux 4.x, before the LDT remap)"
	@rustfmt --edition 2021 $(GENERATED).tmp
	@cmp -s $(GENERATED).tmp $(GENERATED) && rm $(GENERATED).tmp || mv $(GENERATED).tmp $(GENERATED)

module: gen
	@$(kcc) && $(MAKE) -C $(kdir) M=$(TOP) $$cc $(if $(CLIPPY),CLIPPY=1) modules
	@$(TOOLS)/sign-modules.sh $(kdir) $(TOP)/vmlayout.ko
	@echo "built $(TOP)/vmlayout.ko"

# Install the module for KDIR's kernel (its modules directory, under
# updates/, as `make module` built and signed it) and the static vmlayout
# tool: DESTDIR and PREFIX as usual (depmod only for the real root).
PREFIX ?= /usr/local
install: module reporter
	@release=$$(cat $(kdir)/include/config/kernel.release) && \
		install -D -m 0644 $(TOP)/vmlayout.ko $(DESTDIR)/lib/modules/$$release/updates/vmlayout.ko && \
		echo "installed $(DESTDIR)/lib/modules/$$release/updates/vmlayout.ko" && \
		$(if $(DESTDIR),true,depmod $$release)
	install -D -m 0755 $(VMLAYOUT_BIN) $(DESTDIR)$(PREFIX)/bin/vmlayout

# The module's source as DKMS takes it, in DESTDIR/usr/src/vmlayout-VERSION
# (then `dkms install vmlayout/VERSION`): what Kbuild builds, with the
# documented maps generated here (a kernel's headers have no mm.rst).
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' $(TOP)/dkms.conf)
DKMS_SRC = $(DESTDIR)/usr/src/vmlayout-$(VERSION)
install-dkms: gen
	@rm -rf $(DKMS_SRC) && mkdir -p $(DKMS_SRC)
	@cd $(TOP) && find Kbuild dkms.conf include rust tools/vmlayout/kdir-cc.sh tools/vmlayout/dkms-build.sh -type f \( \
		-name Kbuild -o -name dkms.conf -o -name '*.rs' -o -name '*.c' -o -name '*.h' -o -name '*.sh' \) -print0 | \
		cpio -0 -pdm --quiet $(DKMS_SRC)
	@echo "DKMS source in $(DKMS_SRC): dkms install vmlayout/$(VERSION)"

# Boot the test kernel with the freshly built module (and FILES) in /root.
vm: module
	@$(TOOLS)/vm.sh -k $(kdir)/arch/x86/boot/bzImage -p $(PAGING) -s $(SMP) -m $(MEM) \
		-a "$(APPEND)" -f $(TOP)/vmlayout.ko $(foreach f,$(FILES),-f $(f)) -- '$(subst ','\'',$(value CMD))'

# The userspace reporter, static so that it runs in the test VMs (busybox,
# no C library) as on the host.
export VMLAYOUT_BIN := $(CARGO_TARGET_DIR)/x86_64-unknown-linux-gnu/release/vmlayout
reporter: deps
	@cd $(TOOLS) && RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release \
		-p vmlayout --target x86_64-unknown-linux-gnu
	@echo "built $(VMLAYOUT_BIN)"

# Boot, take a snapshot in the guest, print `vmlayout report`, draw the
# picture (RUN_OUT/layout.svg); RAW=1 also prints the raw files.
RUN_OUT ?= $(TOP)/vmlayout-run
run: module reporter
	@$(TOOLS)/run.sh $(kdir)/arch/x86/boot/bzImage $(TOP)/vmlayout.ko $(VMLAYOUT_BIN) $(PAGING) \
		$(RUN_OUT) -s $(SMP) -m $(MEM) -a "$(APPEND)"

# KASLR statistics: BOOTS boots per paging mode (both unless PAGING= is
# given on the command line), a snapshot each, then `vmlayout kaslr`.
# (BOOTS defaults to 50 here only: check-vm's profile has 2.)
KASLR_OUT ?= $(TOP)/vmlayout-kaslr
kaslr: module reporter
	@$(TOOLS)/kaslr.sh $(kdir)/arch/x86/boot/bzImage $(TOP)/vmlayout.ko $(VMLAYOUT_BIN) $(or $(BOOTS),50) \
		"$(if $(filter command line,$(origin PAGING)),$(PAGING),5 4)" $(KASLR_OUT)

check-host: deps
	cd $(TOOLS) && cargo test -q --release --workspace
	cd $(TOOLS) && cargo clippy -q --release --workspace --all-targets -- -D warnings
	cd $(TOOLS) && RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=$(CARGO_TARGET_DIR)-loom \
		cargo test -q --release --test work_loom

# rustfmt follows `mod` and `#[path]`, so the crate roots cover every file
# (and compat.rs, which vmlayout_main.rs includes).
RUST_ROOTS = $(TOP)/rust/vmlayout_main.rs $(TOP)/rust/compat.rs $(TOP)/rust/mmgen.rs $(wildcard $(TOP)/tools/vmlayout/*.rs \
	$(TOP)/tools/vmlayout/tests/*.rs $(TOP)/tools/testing/selftests/vmlayout/*.rs \
	$(TOP)/tools/vmlayout/reporter/*.rs $(TOP)/tools/vmlayout/reporter/tests/*.rs \
	$(TOP)/tools/vmlayout/reporter/examples/*.rs $(TOP)/tools/vmlayout/reporter/benches/*.rs)
check-style: gen
	rustfmt --check --edition 2021 $(RUST_ROOTS)

check-clippy: gen
	@rm -f $(TOP)/rust/*.o $(TOP)/vmlayout.ko
	@set -o pipefail; $(kcc) && $(MAKE) -C $(kdir) M=$(TOP) $$cc CLIPPY=1 modules 2>&1 | tee $(VMLAYOUT_CACHE)/clippy.log
	@! grep -E '(^|: )(warning|error)(\[|:)' $(VMLAYOUT_CACHE)/clippy.log || { echo "clippy/rustc warnings above" >&2; exit 1; }

# vmlayout as a patch series against a kernel tree (git format-patch form,
# checkpatch's messages listed in the cover letter): tools/vmlayout/intree.sh.
# The test kernels are built from the cached tree with this series applied.
OUT ?= $(TOP)/intree
intree: deps
	@ksrc="$(KSRC)"; [ -n "$$ksrc" ] || ksrc=$$($(TOOLS)/fetch-kernel-source.sh \
		$(VMLAYOUT_CACHE)/src $${KVER:-7.3} | tail -n1) && \
		$(TOOLS)/intree.sh "$$ksrc" "$(OUT)" && echo "series in $(OUT)"

# The in-tree build's conventions on the test kernel's tree: rustfmtcheck,
# and a CLIPPY=1 build of arch/x86/mm/vmlayout/ with no warning (built as
# the kernel builds it: vmlayout's event through declare_trace!).
check-intree: kernel
	@set -o pipefail; src=$$(readlink -f $(kdir)/source) && $(kcc) && \
		$(MAKE) -s -C $$src O=$(kdir) $$cc rustfmtcheck && \
		rm -f $(kdir)/arch/x86/mm/vmlayout/*.o && \
		$(MAKE) -C $$src O=$(kdir) $$cc CLIPPY=1 arch/x86/mm/vmlayout/ 2>&1 | \
		tee $(VMLAYOUT_CACHE)/clippy-intree.log | grep -E 'CLIPPY.*vmlayout' && \
		! grep -E '(^|: )(warning|error)(\[|:)' $(VMLAYOUT_CACHE)/clippy-intree.log && \
		echo "check-intree: rustfmtcheck and CLIPPY=1 clean" && \
		$(TOOLS)/rustdoc.sh $(kdir)

# The module's documentation, built as the kernel's `make rustdoc` builds
# the kernel crate's, with no warning (tools/vmlayout/rustdoc.sh).
rustdoc: kernel
	@$(kcc) && $(MAKE) -s -C $$(readlink -f $(kdir)/source) O=$(kdir) $$cc arch/x86/mm/vmlayout/
	@$(TOOLS)/rustdoc.sh $(kdir)

# Every patch of the series applies with git am to a clean copy of the
# tree and the kernel builds after it (not in `check`: some 20 minutes).
check-series: intree
	@ksrc="$(KSRC)"; [ -n "$$ksrc" ] || ksrc=$$($(TOOLS)/fetch-kernel-source.sh \
		$(VMLAYOUT_CACHE)/src $${KVER:-7.3} | tail -n1) && \
		$(TOOLS)/check-series.sh "$$ksrc" "$(OUT)"

# The test profiles: tools/testing/selftests/vmlayout/profile.NAME next to
# the config fragments, each a kernel variant and what runs on it, run by
# tools/vmlayout/check.sh.
check-vm check-kasan check-debug check-defconfig: deps gen reporter
	@$(TOOLS)/check.sh $(@:check-%=%)

# The kernels people run, without the module: Debian's own 7.x and 6.12
# images, `vmlayout check` in each (tools/vmlayout/check-distro.sh).
check-distro: deps reporter
	@$(TOOLS)/check-distro.sh $(VMLAYOUT_CACHE)/src

# Your own kernel: KDIR= a kernel build directory (see tools/vmlayout/check-kernel.sh).
check-kernel: deps gen reporter
	@test -n "$(KDIR)" || { echo "check-kernel: give KDIR=<your kernel build directory>" >&2; exit 2; }
	@$(TOOLS)/check-kernel.sh $(KDIR)

# Benchmarks: not a test, asserts nothing about time (Documentation/vmlayout/bench.rst).
BENCH := $(TOOLS)/bench
# The TCG runs first: their 16 GiB dump leaves a capture of its table pages
# (BENCH_CAPTURE) that the native benchmark then times beside the tree's.
BENCH_CAPTURE ?= $(VMLAYOUT_CACHE)/bench-16g.elf
bench: module reporter
	@$(kcc) && $(MAKE) -C $(kdir) M=$(BENCH) $$cc modules
	@set -o pipefail; kd=$$($(TOOLS)/build-kernel.sh debug | tail -n1) && \
		mods=$$($(TOOLS)/build-variant-modules.sh $$kd | tail -n1) && \
		BENCH_CAPTURE=$(BENCH_CAPTURE) BENCH_DEBUG_KDIR=$$kd BENCH_DEBUG_MODULES=$$mods \
		$(BENCH)/run-bench.sh $(kdir)
	@echo "== native: the core's walk and rules against a plain copy, on real captures (criterion)"
	@cd $(TOOLS) && VMLAYOUT_BENCH_CAPTURES=$$(test -f $(BENCH_CAPTURE) && echo $(BENCH_CAPTURE)) \
		cargo bench -q -p vmlayout --bench check 2>&1 | grep -E '^[a-z0-9-]+/|time:'

# A sampling profile of the bench layout (SMP, MEM, PAGING as for `vm`).
profile: module
	@$(kcc) && $(MAKE) -C $(kdir) M=$(BENCH) $$cc modules
	$(BENCH)/tcg-profile.py $(kdir) $(SMP) $(MEM) $(PAGING)

# Every part in turn, each with its wall time (where a run's time goes).
CHECKS := check-host check-style check-clippy check-vm check-intree check-kasan check-debug check-defconfig \
	check-distro
check:
	@t0=$$(date +%s); for c in $(CHECKS); do t=$$(date +%s); \
		$(MAKE) --no-print-directory $$c || { echo "make check: $$c FAILED" >&2; exit 1; }; \
		echo "make check: $$c passed in $$(($$(date +%s) - t)) s"; done; \
		echo "make check: all tests passed in $$(($$(date +%s) - t0)) s"

clean:
	-$(MAKE) -C $(kdir) M=$(TOP) clean
	-$(MAKE) -C $(SELFTEST)/test_modules KDIR=$(kdir) clean
	-$(MAKE) -C $(kdir) M=$(BENCH) clean
	rm -f $(GENERATED)
	cd $(TOOLS) && cargo clean
