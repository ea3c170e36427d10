# Thin wrapper over Meson. `make run` and `make test` do all the set-up.
BUILD ?= build
SAMPLE ?= tests/data/hubble_deep_field.jpg
PIPE ?= grayscale|gaussian-blur:sigma=1.5|canny:low=50,high=150
LISTEN ?= 127.0.0.1:8080
DATA ?= tessera-data
FUZZ_SECONDS ?= 600

.PHONY: all deps build run sample test bench fuzz format format-check clean

all: build

deps:
	@scripts/install-deps.sh build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The main job: the service with its embedded defaults (SQLite + files under
# ./tessera-data, in-process workers on all cores) at http://127.0.0.1:8080/.
# The admin token is printed on first start.
run: build
	$(BUILD)/src/cli/tessera serve --listen $(LISTEN) --data $(DATA)

# One-shot local processing of a sample photo with the CLI.
sample: build
	@mkdir -p out
	$(BUILD)/src/cli/tessera process -p '$(PIPE)' $(SAMPLE) -o out/sample-edges.png
	@echo "wrote out/sample-edges.png (pipeline: $(PIPE))"

# The whole test suite: format, -Werror build, unit, oracle and CLI tests,
# then the unit suite again under ASan + UBSan. Ends with "N passed, N failed".
test:
	@scripts/install-deps.sh test
	@/usr/bin/python3 scripts/run_tests.py

bench: build
	@scripts/install-deps.sh bench
	/usr/bin/python3 bench/run.py --tessera $(BUILD)/src/cli/tessera

# Every libFuzzer target (fuzz/) for FUZZ_SECONDS each, 2 at a time, from its
# seed corpus; findings land in fuzz/findings/ (see fuzz/README.md).
fuzz:
	@test -f build-fuzz/build.ninja || CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true \
		--buildtype=debugoptimized
	ninja -C build-fuzz $$(sed -n 's/^TARGETS="\(.*\)"/\1/p' fuzz/run.sh | tr ' ' '\n' | \
		sed 's|^|fuzz/fuzz_|')
	fuzz/run.sh $(FUZZ_SECONDS) 2 build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cpp')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h' '*.cpp')

clean:
	rm -rf $(BUILD) build-test build-asan build-tsan out
