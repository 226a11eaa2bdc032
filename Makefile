# Two commands set up everything on a fresh Debian 12 machine:
#   make demo   install what is missing, build, run the main job
#   make test   install what is missing, build, run every test: CTest (GoogleTest and the fuzz
#               regression replays) and pytest, then the same under the sanitizers (test-asan),
#               then a short run of every fuzz target (pytest and the fuzz runs use every core)
# Also: make build, make bench, make clean, make test-asan, make fuzz, make fuzz-regressions,
# make fuzz-corpus (see "Fuzzing and sanitizers" in README.md).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
BUILD_DIR := build/dev

# Debian packages: compilers and the C++ libraries (fmt, xxHash, GoogleTest), plus the outside
# tools the tests compare against (sgdisk, fsck.fat, mtools, ldmtool; QEMU, OVMF and GRUB's EFI
# modules for the real boots of bootmirror.qemu, OVMF's VARS templates for the NVRAM store) and the
# peers of the benchmarks (dd from coreutils, xxhsum). nbdkit and its Python plugin run bootmirror
# serve; its clients in the tests are nbdinfo (libnbd-bin) and qemu-img and qemu-io (qemu-utils).
# clang, its sanitizer and libFuzzer runtimes (libclang-rt-14-dev) and llvm-symbolizer (llvm-14)
# serve test-asan and the fuzz targets.
APT_PACKAGES := g++ make pkg-config libfmt-dev libxxhash-dev xxhash libgtest-dev \
                gdisk dosfstools mtools ldmtool ntfs-3g wimtools xz-utils \
                qemu-system-x86 ovmf grub-efi-amd64-bin \
                nbdkit nbdkit-plugin-python libnbd-bin qemu-utils \
                clang libclang-rt-14-dev llvm-14

# The sanitizer build: clang with AddressSanitizer and UndefinedBehaviorSanitizer in build/asan,
# with a virtualenv of its own holding a regular (not editable) install of that build, so that
# build/dev and .venv are never touched and every interpreter the tests start imports the
# sanitized extension. The same objects carry libFuzzer's coverage hooks, and the fuzz targets
# are linked there too.
CLANGXX ?= clang++
ASAN_DIR := build/asan
ASAN_BUILD_DIR := $(ASAN_DIR)/cmake
ASAN_VENV := $(ASAN_DIR)/venv
ASAN_VPY := $(ASAN_VENV)/bin/python
# RelWithDebInfo: pybind11 strips Release modules, and reports should name files and lines.
ASAN_PIP_SETTINGS := -Cbuild-dir=$(ASAN_BUILD_DIR) -Ccmake.build-type=RelWithDebInfo \
                     -Ccmake.define.CMAKE_CXX_COMPILER=$(CLANGXX) \
                     -Ccmake.define.BOOTMIRROR_TESTS=ON -Ccmake.define.BOOTMIRROR_FUZZ=ON
ASAN_RUNTIME = $(shell $(CLANGXX) -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null)
SYMBOLIZER = $(shell command -v llvm-symbolizer-14 || command -v llvm-symbolizer)
# Leaks are errors in the C++ test binaries; the interpreter itself leaks by design at exit, so
# pytest runs without leak detection (the C++ suites and fuzz replays cover the engine's leaks).
SANITIZER_ENV = ASAN_SYMBOLIZER_PATH=$(SYMBOLIZER) UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ASAN_CPP_ENV = $(SANITIZER_ENV) ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1
# pytest captures each test's stderr and loses it when the interpreter dies, so under pytest the
# sanitizers write their reports to files (one per process, subprocesses included), which
# test-asan prints and fails on.
SANITIZER_REPORTS := $(ASAN_DIR)/reports
ASAN_PYTHON_ENV = ASAN_SYMBOLIZER_PATH=$(SYMBOLIZER) LD_PRELOAD=$(ASAN_RUNTIME) \
                  ASAN_OPTIONS=detect_leaks=0:log_path=$(abspath $(SANITIZER_REPORTS))/asan \
                  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(abspath $(SANITIZER_REPORTS))/ubsan

# pytest runs its tests on every core (pytest-xdist; PYTEST_PARALLEL= runs them in one process), a
# module to a worker: a module's fixtures (a mirrored machine) are then built once, not once per worker.
PYTEST_PARALLEL ?= -n auto --dist loadscope
# Under the sanitizers the crash suite tries every flush point of every operation but fewer random
# subsets per point (2, not 6): the sanitizers look for bad accesses on the code paths, which the
# flush points already cover, and the full count runs in the normal build just before.
ASAN_CRASH_RANDOM ?= 2
# Likewise the LDM mutation test runs 150 of its 500 seeded cases there.
ASAN_MUTATION_CASES ?= 150

# make fuzz: every target for FUZZ_SECONDS, one per core at a time; make test runs each for
# TEST_FUZZ_SECONDS. FUZZ_TARGETS narrows the run to some targets ("gpt fat_dir").
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 10
FUZZ_TARGETS ?=
fuzz_run = $(SANITIZER_ENV) $(ASAN_VPY) tests/fuzz/run.py --build $(ASAN_BUILD_DIR)/tests/fuzz --seconds $(1) $(FUZZ_TARGETS)

.PHONY: all deps apt-deps build demo test test-cpp test-python bench clean \
        sanitizer-tools asan-build test-asan fuzz fuzz-regressions fuzz-corpus

all: build

apt-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "Missing Debian packages. Run as root:"; \
	    echo "  apt-get update && apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

$(VENV)/.deps-stamp: requirements-dev.txt
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements-dev.txt
	@touch $@

deps: apt-deps $(VENV)/.deps-stamp

# An editable install whose C++ build lives in build/dev and is reused: rebuilding after a change
# compiles only what changed. The GoogleTest suites are built alongside.
build: deps
	$(VPY) -m pip install -q --no-build-isolation \
	  -Cbuild-dir=$(BUILD_DIR) -Ccmake.define.BOOTMIRROR_TESTS=ON -Ceditable.rebuild=false \
	  -e .

demo: build
	$(VPY) -m bootmirror.demo demo-out

test-cpp: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j2

test-python: build
	$(VPY) -m pytest $(PYTEST_PARALLEL) tests/python

# Each step runs even when one before it failed, and the run fails at the end, naming the steps
# that failed: a clone without the test data (README.md, "Test data") fails the tests that read it,
# by name, and still runs everything else.
test: build
	@failed=""; \
	(cd $(BUILD_DIR) && ctest --output-on-failure -j2) || failed="$$failed ctest"; \
	$(VPY) -m pytest $(PYTEST_PARALLEL) tests/python || failed="$$failed pytest"; \
	$(MAKE) test-asan || failed="$$failed test-asan"; \
	$(call fuzz_run,$(TEST_FUZZ_SECONDS)) || failed="$$failed fuzz"; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed"; exit 1; fi

# Every seed corpus and regression input once through its target, in the normal (gcc) build.
fuzz-regressions: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j2 -L fuzz

# A missing tool fails the run, in CI and out of it: a sanitizer or fuzz run that skipped would
# report success having tested nothing.
sanitizer-tools: apt-deps
	@command -v $(CLANGXX) >/dev/null || { echo "$(CLANGXX) is missing (Debian package clang)"; exit 1; }
	@test -f "$(ASAN_RUNTIME)" || { echo "clang's ASan runtime is missing (Debian package libclang-rt-14-dev)"; exit 1; }
	@test -n "$(SYMBOLIZER)" || { echo "llvm-symbolizer is missing (Debian package llvm-14)"; exit 1; }

$(ASAN_VENV)/.deps-stamp: requirements-dev.txt
	@test -x $(ASAN_VPY) || $(PYTHON) -m venv $(ASAN_VENV)
	$(ASAN_VPY) -m pip install -q --upgrade pip
	$(ASAN_VPY) -m pip install -q -r requirements-dev.txt
	@touch $@

# The core, the extension, the GoogleTest binaries, the replay drivers and the libFuzzer targets,
# all instrumented, installed into build/asan/venv. Incremental, as make build is.
asan-build: apt-deps sanitizer-tools $(ASAN_VENV)/.deps-stamp
	$(ASAN_VPY) -m pip install -q --no-build-isolation --force-reinstall --no-deps $(ASAN_PIP_SETTINGS) .

# GoogleTest and the fuzz replays (leak detection on), then pytest in the sanitized venv with the
# ASan runtime preloaded; .ci/pytest_sanitized.py refuses to run unless the extension it imports
# is the sanitized one. pytest runs even when CTest failed, as in make test.
test-asan: asan-build
	(cd $(ASAN_BUILD_DIR) && $(ASAN_CPP_ENV) ctest --output-on-failure -j2); \
	status=$$?; \
	rm -rf $(SANITIZER_REPORTS) && mkdir -p $(SANITIZER_REPORTS); \
	$(ASAN_PYTHON_ENV) BOOTMIRROR_CRASH_RANDOM=$(ASAN_CRASH_RANDOM) \
	  BOOTMIRROR_MUTATION_CASES=$(ASAN_MUTATION_CASES) \
	  $(ASAN_VPY) .ci/pytest_sanitized.py $(PYTEST_PARALLEL) -m "not qemu and not install and not nbdkit" tests/python || status=1; \
	for report in $(SANITIZER_REPORTS)/*; do test -f "$$report" && { echo "== $$report"; cat "$$report"; status=1; }; done; \
	exit $$status

fuzz: asan-build
	$(call fuzz_run,$(FUZZ_SECONDS))

# Regenerates tests/fuzz/corpus from images made by the engine and by outside tools, and from the
# Windows images of the test data folder (README.md, "Test data"; unpacked into a temporary folder).
fuzz-corpus: build
	$(VPY) tests/fuzz/make_corpus.py

bench: build
	$(VPY) benchmarks/run.py

clean:
	rm -rf build demo-out bench-out
