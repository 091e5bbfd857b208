# swift-caches: `make demo` and `make test` work on a fresh Debian machine with only the Swift toolchain.
SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
# Unit-test targets: no server needed, so they also run under the sanitizers.
UNIT_TESTS = RESPTests|CacheRingTests|CachePoolTests|CacheTLSTests|CachesTests

.PHONY: all deps build demo demo-cluster test check lint soak bench bench-compare check-traits clean

all: build

## deps: install redis-server, OpenSSL headers and the Python seed library (idempotent)
deps:
	@scripts/deps.sh

build: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

## demo: start 3 local Redis nodes (weights 1, 2, 1) and run the main job across them
demo: deps
	@scripts/demo.sh

## demo-cluster: start a local Redis Cluster (3 primaries, 3 replicas) and run the main job on it
demo-cluster: deps
	@scripts/demo-cluster.sh

## test: the whole test suite: unit tests in parallel, then the integration tests (real redis-server processes,
## timeouts and faults) one at a time, so that their time bounds do not depend on how busy the machine is
test: deps
	$(SWIFT) build --build-tests $(SWIFT_BUILD_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_BUILD_FLAGS) --filter '$(UNIT_TESTS)'
	$(SWIFT) test --skip-build $(SWIFT_BUILD_FLAGS) --no-parallel --filter IntegrationTests

## lint: swift-format (the toolchain's `swift format`, settings in .swift-format) finds nothing to change
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

## check: the formatting lint, the trait-free builds, then the unit tests under ThreadSanitizer and AddressSanitizer
## (separate build folders)
check: deps lint check-traits
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	SWIFT=$(SWIFT) scripts/sanitized-tests.sh thread '$(UNIT_TESTS)'
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp SWIFT=$(SWIFT) scripts/sanitized-tests.sh address '$(UNIT_TESTS)'

## check-traits: a dependent with Caches' default traits off builds without Yams & co.; the package builds with no trait
check-traits:
	scripts/check-traits.sh

## soak: the load test at full length (10,000 tasks for 20 s)
soak: deps
	$(SWIFT) build --build-tests
	CACHES_SOAK_SECONDS=20 $(SWIFT) test --skip-build --filter LoadTests

## bench: caches bench against redis-benchmark on local nodes (release build; about 8 minutes)
bench: deps
	@scripts/bench.sh

## bench-compare: A/B of this tree against BASE=<revision> on one local node, interleaved (release builds)
bench-compare: deps
	@BASE=$(BASE) scripts/bench-compare.sh

clean:
	rm -rf .build .build-tsan .build-asan
