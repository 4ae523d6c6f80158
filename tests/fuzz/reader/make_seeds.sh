#!/bin/bash
# Builds fuzz seed corpora from the shared test traces:
#   OUT/metadata/<case>      metadata files as they are
#   OUT/packet/<case>-<file> u32le metadata length + metadata + first 64 KiB of a stream file
# Usage: make_seeds.sh DATA_DIR OUT_DIR
set -eu
data=$1 out=$2
rm -rf "$out"
mkdir -p "$out/metadata" "$out/packet"
n=0
while IFS= read -r md; do
	dir=$(dirname "$md")
	id=$(echo "${dir#$data/}" | tr '/' '_')
	cp "$md" "$out/metadata/$id"
	for f in "$dir"/*; do
		[ -f "$f" ] && [ "$(basename "$f")" != metadata ] || continue
		size=$(stat -c %s "$md")
		{ printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((size & 255)) $(((size >> 8) & 255)) $(((size >> 16) & 255)) $(((size >> 24) & 255)))"
		  cat "$md"; head -c 65536 "$f"; } >"$out/packet/$id-$(basename "$f")"
		n=$((n + 1))
		break
	done
done < <(find "$data" -name metadata -type f | sort)
echo "seeds: $(ls "$out/metadata" | wc -l) metadata, $n packet"
