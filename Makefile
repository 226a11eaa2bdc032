# Two commands set up everything on a fresh Debian 12 machine:
#   make demo   install what is missing, build, run the main job
#   make test   install what is missing, build, run every test (CTest and pytest)
# Also: make build, make bench, make clean.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
BUILD_DIR := build/dev

# Debian packages: compilers and the C++ libraries (fmt, xxHash, GoogleTest), plus the outside
# tools the tests compare against (sgdisk, fsck.fat, mtools, ldmtool) and the peers of the
# benchmarks (dd from coreutils, xxhsum).
APT_PACKAGES := g++ make pkg-config libfmt-dev libxxhash-dev xxhash libgtest-dev \
                gdisk dosfstools mtools ldmtool xz-utils

.PHONY: all deps apt-deps build demo test test-cpp test-python bench clean

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
	$(VPY) -m pytest tests/python

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j2
	$(VPY) -m pytest tests/python

bench: build
	$(VPY) benchmarks/run.py

clean:
	rm -rf build demo-out bench-out
