# swift-caches: `make demo` and `make test` work on a fresh Debian machine with only the Swift toolchain.
SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=

.PHONY: all deps build demo test unit integration bench clean

all: build

## deps: install redis-server, OpenSSL headers and the Python seed library (idempotent)
deps:
	@scripts/deps.sh

build: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

## demo: start local Redis nodes and run the main job across them
demo: deps
	@scripts/demo.sh

## test: the whole test suite (unit and integration, against real redis-server processes)
test: deps
	$(SWIFT) build --build-tests $(SWIFT_BUILD_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_BUILD_FLAGS)

## bench: caches bench against redis-benchmark on local nodes (release build; about 8 minutes)
bench: deps
	@scripts/bench.sh

clean:
	rm -rf .build
