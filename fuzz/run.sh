#!/usr/bin/env bash
# fuzz/run.sh FUZZER SECONDS: runs the decoder's fuzz target for SECONDS over fuzz/corpus
# (new inputs go to a temporary directory, so the repository's corpus changes only when
# someone copies interesting ones in). An input larger than 64 KiB is never tried, and any
# single allocation above 16 MiB — 256 times the largest input — counts as a failure. A
# failing input is kept beside the fuzzer (crash-*): run the fuzzer on it to see why.
set -euo pipefail
fuzzer="$1"
seconds="${2:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
new=$(mktemp -d)
trap 'rm -rf "$new"' EXIT
"$fuzzer" -max_total_time="$seconds" -max_len=65536 -malloc_limit_mb=16 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$(dirname "$fuzzer")/" \
    "$new" "$here/corpus" 2>&1 | tail -n 25
