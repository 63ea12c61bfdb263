#!/usr/bin/env python3
"""CPU time (user + system, from getrusage of each child) of `wharf resolve` binaries run in
turn, for comparing builds on a machine too loaded for wall times.

Usage: cpu-time.py RUNS MODE MANIFEST INDEX_DIR_OR_URL BIN...
  MODE local: `--index-dir INDEX_DIR`; MODE cold: `--index-url URL --cache-dir` emptied before
  each run; MODE warm: the same cache kept. Every binary must print the same lock.
"""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

runs, mode, manifest, index = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
bins = sys.argv[5:]
scratch = tempfile.mkdtemp()
results = {b: [] for b in bins}
outputs = set()
for _ in range(runs):
    for k, b in enumerate(bins):
        cache = os.path.join(scratch, f"cache-{k}")
        cmd = [b, "resolve", "--manifest", manifest, "--format", "cargo-lock"]
        if mode == "local":
            cmd += ["--index-dir", index]
        else:
            if mode == "cold":
                shutil.rmtree(cache, ignore_errors=True)
            cmd += ["--index-url", index, "--cache-dir", cache]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        user = (after.ru_utime - before.ru_utime) * 1e3
        system = (after.ru_stime - before.ru_stime) * 1e3
        results[b].append((user + system, user, system))
        outputs.add(out.stdout)
shutil.rmtree(scratch, ignore_errors=True)
if len(outputs) != 1:
    sys.exit("the binaries printed different locks")
for b, r in results.items():
    print(f"{b}: CPU median {statistics.median(x[0] for x in r):.1f} ms "
          f"(user {statistics.median(x[1] for x in r):.1f}, "
          f"system {statistics.median(x[2] for x in r):.1f}), {len(r)} runs")
