# ringtrace — the two commands that matter: `make demo` and `make check`.
# Everything else is a convenience over CMake/ctest.

MAKEFLAGS  += --no-print-directory
BUILD      ?= build
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
# reap.py runs ctest as a subreaper and fails the run if a test left a
# process behind (daemons included)
CTEST      := python3 $(CURDIR)/scripts/reap.py ctest --output-on-failure --no-tests=error
# TSan/ASan need a non-randomised layout on kernels with 32 bits of mmap
# entropy; setarch -R gives them that without touching the system.
NOASLR     := $(shell setarch $$(uname -m) -R true 2>/dev/null && echo "setarch $$(uname -m) -R")

.PHONY: all build deps demo check check-asan check-tsan check-fuzz fuzz-long diff-long stress-long bench install clean

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh

# The demo shows the demo: the build's own lines go to a log, printed only
# if the build fails.
demo: deps
	@echo "== building ringtrace into $(BUILD)/ (log: $(BUILD)/build.log)"
	@mkdir -p $(BUILD)
	@{ cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) && \
	   cmake --build $(BUILD) -j $(JOBS); } >$(BUILD)/build.log 2>&1 || \
	   { cat $(BUILD)/build.log; echo "demo: the build failed" >&2; exit 1; }
	@scripts/demo.sh $(BUILD)

# The whole suite: sanitizer runs first, then the full suite in the -Werror
# build, so the last line printed is ctest's summary of everything.
check: deps check-asan check-tsan check-fuzz
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTR_WERROR=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@echo "== full suite ($(BUILD))"
	@cd $(BUILD) && $(NOASLR) $(CTEST) -j $(JOBS) -LE fuzz

check-asan:
	@echo "== unit + stress tests under AddressSanitizer + UBSan (build-asan)"
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRTR_SANITIZE=address -DRTR_WERROR=ON -DRTR_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(NOASLR) $(CTEST) -j $(JOBS) -L 'unit|stress'

check-tsan:
	@echo "== stress tests under ThreadSanitizer (build-tsan)"
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTR_SANITIZE=thread -DRTR_WERROR=ON -DRTR_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(NOASLR) $(CTEST) -j 1 -L stress

# libFuzzer harnesses (clang), each for a bounded time; `make fuzz-long`
# runs them for FUZZ_SECONDS each.
check-fuzz:
	@if [ -d tests/fuzz ] && ls tests/fuzz/*/CMakeLists.txt >/dev/null 2>&1; then \
		echo "== fuzz harnesses (build-fuzz)"; \
		CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTR_FUZZ=ON -DRTR_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null && \
		cmake --build build-fuzz -j $(JOBS) && \
		cd build-fuzz && $(CTEST) -j $(JOBS) -L fuzz; \
	fi

FUZZ_SECONDS ?= 1800
fuzz-long:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTR_FUZZ=ON -DRTR_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@cd build-fuzz && RTR_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CTEST) -L fuzz --timeout $$(( $(FUZZ_SECONDS) + 120 ))

# differential tester against babeltrace2 on random seeds for DIFF_SECONDS
# (tests/diff/README.md); prints BENCH counts and the failing seeds
DIFF_SECONDS ?= 600
diff-long: build
	@python3 tests/diff/difftest.py run --ringtrace $(BUILD)/bin/ringtrace --seconds $(DIFF_SECONDS) \
		-j $(JOBS) -q --nopts 3 --mutations 3 --mutation-rate 0.2 --hostile-every 200 --keep $(BUILD)/diff-failures

# The ring buffer's stress tests for as long as asked: each scenario runs
# STRESS_SECONDS seconds (make check runs them for a few seconds each).
STRESS_SECONDS ?= 600
stress-long: build
	@for t in "stress_mix discard" "stress_kill discard" "stress_mix overwrite" \
		  "stress_kill overwrite" "stress_mix wakeup"; do \
		echo "== $$t ($(STRESS_SECONDS) s)"; \
		RTR_STRESS_SECONDS=$(STRESS_SECONDS) $(BUILD)/tests/$$t || exit 1; \
	done

bench: deps build
	@scripts/bench.sh $(BUILD)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi
	@echo "installed: $(DESTDIR)$(PREFIX)/bin/ringtrace"

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
