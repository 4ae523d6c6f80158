#!/usr/bin/env bash
# Installs every Debian package that ringtrace's build, tests and benchmarks
# need. Idempotent: when everything is present it only runs dpkg-query and
# exits; `apt-get update` runs only when something is missing.
set -euo pipefail

packages=(
	build-essential cmake pkg-config make gzip diffutils coreutils time
	clang llvm libclang-rt-14-dev    # libFuzzer harnesses and clang builds
	babeltrace2                      # reference CTF reader (tests, benchmarks)
	lttng-tools liblttng-ust-dev     # reference tracer (benchmarks)
	hyperfine                        # command timing in benchmarks
	python3                          # checks of the JSON (Chrome trace) output
	chromium                         # the JSON parsed in a real browser (tests/integration/ux)
	libtracefs-dev libtraceevent-dev # kernel events through tracefs (lib/kernel)
	libtracecmd-dev trace-cmd        # trace.dat input; trace-cmd as benchmark peer
	libelf-dev libdw-dev             # uprobe symbols (lib/kernel); view --debug-info (lib/reader/debuginfo)
	linux-perf                       # perf record as benchmark peer
	uftrace valgrind                 # function tracing peer; heap counts (instrument/)
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "deps.sh: missing packages (${missing[*]}) and not root; install them or run as root" >&2
		exit 1
	fi
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
