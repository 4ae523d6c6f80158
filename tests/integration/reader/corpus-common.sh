# Setup shared by the corpus-driven reader tests (corpus.sh, stats.sh,
# roundtrip.sh). Sourced after `set -u` by a script whose $1 is the
# ringtrace binary and $2 the repository root; sets BIN, ROOT, DATA (the
# shared test traces), EXC (the documented exceptions), TMP (removed at
# exit), a UTC/C locale, and reader_vlimit.
BIN=$(realpath "$1")
ROOT=$(realpath "$2")
DATA=$ROOT/../shared/testdata
EXC=$(dirname "$(realpath "${BASH_SOURCE[0]}")")/corpus-exceptions.tsv
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export TZ=UTC LC_ALL=C

# reader_vlimit KIB: the address-space limit to run the reader under, or
# "unlimited" for Address/ThreadSanitizer builds (their shadow memory).
reader_vlimit() {
	if grep -q -e __asan_init -e __tsan_init "$BIN"; then echo unlimited; else echo "$1"; fi
}
