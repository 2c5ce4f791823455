# The two README commands: `make demo` (set up, then run the main job) and `make test`.
# Every ROS process started from here stays on this host (ROS_AUTOMATIC_DISCOVERY_RANGE) on a
# fixed domain: default DDS discovery multicasts out of every interface.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
DEMO_DOMAIN_ID ?= 73
TEST_DOMAIN_ID ?= 74
BENCH_DOMAIN_ID ?= 75
# Seconds: one test, and the whole pytest run (rclpy traps SIGTERM, hence `timeout -k`).
PYTEST_TIMEOUT ?= 300
SUITE_TIMEOUT ?= 1500
PYTEST_ARGS ?=

export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID := $(TEST_DOMAIN_ID)
export RMW_IMPLEMENTATION := rmw_fastrtps_cpp
# Camera-sized frames need the shipped shared-memory profile on both ends (config/fastdds_profile.xml).
export FASTRTPS_DEFAULT_PROFILES_FILE := $(CURDIR)/config/fastdds_profile.xml
export FASTDDS_DEFAULT_PROFILES_FILE := $(CURDIR)/config/fastdds_profile.xml

.PHONY: help setup demo test lint typecheck pytest bench clean distclean

help:
	@echo "make setup      build .venv: pinned ROS 2 Jazzy wheels, torch, our interfaces (idempotent)"
	@echo "make demo       setup, then replay the demo bag through the inference node and report"
	@echo "make test       setup, then ruff, mypy and pytest (what CI runs, via .ci/run)"
	@echo "make lint | typecheck | pytest | bench | clean | distclean"

setup:
	@bash scripts/setup_venv.sh

demo: export ROS_DOMAIN_ID := $(DEMO_DOMAIN_ID)
demo: setup
	$(VENV)/bin/edge-ai-ros demo

# Runs all three checks even when one fails, then fails if any did.
test: setup
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	$(MAKE) --no-print-directory typecheck || status=1; \
	$(MAKE) --no-print-directory pytest || status=1; \
	exit $$status

# ruff, then the import contracts of .importlinter (layers, no cycles, rclpy only in ros/, no torch in serving).
lint:
	$(VENV)/bin/ruff check --output-format concise .
	$(VENV)/bin/lint-imports --no-cache

# Twice: everything against tensorrt-stubs 10.x, then the TensorRT modules against TensorRT 11.
typecheck:
	$(VENV)/bin/mypy --config-file mypy.ini
	@[ -d $(VENV)/typestubs-trt11/tensorrt_bindings ] || { echo "no TensorRT 11 stubs in $(VENV)/typestubs-trt11: run make setup" >&2; exit 1; }
	$(VENV)/bin/mypy --config-file mypy-trt11.ini

pytest:
	timeout -k 15 $(SUITE_TIMEOUT) $(PY) -m pytest -p no:cacheprovider --timeout=$(PYTEST_TIMEOUT) $(PYTEST_ARGS) test

bench: export ROS_DOMAIN_ID := $(BENCH_DOMAIN_ID)
bench: setup
	$(VENV)/bin/edge-ai-ros bench
	$(VENV)/bin/edge-ai-ros bench-node

# fastdds shm clean: remove shared-memory segments a killed ROS process left behind.
clean:
	-[ -x $(VENV)/bin/fastdds ] && $(VENV)/bin/fastdds shm clean
	rm -rf build .mypy_cache .ruff_cache .pytest_cache *.egg-info
	find edge_ai_ros test scripts -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
