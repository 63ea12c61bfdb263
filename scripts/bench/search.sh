#!/usr/bin/env bash
# Catalogue search latency (p50/p99) at 500 and 50,000 packages, with a plain LIKE query
# on the same database as the baseline, measured in the same run, the two alternating round
# by round.
# Usage: scripts/bench/search.sh                      (optimised build, both sizes)
#        PROFILE=release scripts/bench/search.sh      (the release profile itself)
#        CATALOGUE_BENCH_SIZES=500 scripts/bench/search.sh
#        CATALOGUE_BENCH_SAMPLES=100 PROFILE=dev scripts/bench/search.sh   (quicker, unoptimised)
#        CATALOGUE_BENCH_ENGINE=postgres scripts/bench/search.sh   (metadata on a throwaway
#        PostgreSQL cluster: tsvector search against an ILIKE baseline)
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --profile "${PROFILE:-bench}" -p wharf-bench --bench catalogue_search -- --bench
