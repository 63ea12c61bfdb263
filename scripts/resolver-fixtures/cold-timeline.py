#!/usr/bin/env python3
"""Timeline of one remote `wharf resolve` from its debug log.

Run the resolve with `RUST_LOG=wharf_client=debug` (stderr to a file), then
`scripts/resolver-fixtures/cold-timeline.py LOG`. Reads the client's debug events: `fetching`
and `fetched` (each request's start and end, body bytes), `waited for a fetch in flight`
(the resolving thread waiting for a file another thread fetches), `fetching on the asking
thread`, and `writing the cache entries left` (cache writes done at the end, on the main
thread). Prints totals, the longest waits, and per 5 ms: requests in flight, answers and
megabytes received.
"""
import datetime
import re
import sys


def millis(stamp):
    return datetime.datetime.fromisoformat(stamp.rstrip("Z")).timestamp() * 1000


def main(path):
    start, spans, waits, asks, left = {}, [], [], 0, None
    first = last = None
    for line in open(path, encoding="utf-8", errors="replace"):
        found = re.match(r"(\S+Z)\s+DEBUG\s+\S+: (.*)", line)
        if not found:
            continue
        at, message = millis(found.group(1)), found.group(2)
        first = at if first is None else first
        last = at
        url = re.search(r"url=(\S+)", message)
        if message.startswith("fetching url") and url:
            start[url.group(1)] = at
        elif message.startswith("fetched") and url:
            size = int(re.search(r"bytes=(\d+)", message).group(1))
            micros = int(re.search(r"micros=(\d+)", message).group(1))
            spans.append((start.get(url.group(1), at - micros / 1000), at, size))
        elif message.startswith("waited"):
            micros = int(re.search(r"micros=(\d+)", message).group(1))
            waits.append((at, micros, re.search(r"path=(\S+)", message).group(1)))
        elif message.startswith("fetching on the asking"):
            asks += 1
        elif message.startswith("writing the cache"):
            left = (at, message)
    if not spans:
        sys.exit("no `fetched` events: was RUST_LOG=wharf_client=debug set?")
    end = max(span[1] for span in spans)
    print(f"requests {len(spans)}, {sum(s[2] for s in spans) / 1e6:.1f} MB of bodies")
    print(f"last answer at {end - first:.1f} ms, last event at {last - first:.1f} ms")
    print(f"resolving thread: waited {sum(w[1] for w in waits) / 1000:.1f} ms in all ({len(waits)} wake-ups); "
          f"{asks} files fetched by the asking thread")
    for at, micros, path in sorted(waits, key=lambda w: -w[1])[:8]:
        print(f"  waited {micros / 1000:6.1f} ms at {at - first:6.1f} ms for {path}")
    if left:
        print(f"at {left[0] - first:.1f} ms: {left[1]}")
    step = 5
    for k in range(int((end - first) / step) + 1):
        low = first + k * step
        high = low + step
        in_flight = sum(min(high, s[1]) - max(low, s[0]) for s in spans if s[1] > low and s[0] < high)
        done = [s for s in spans if low <= s[1] < high]
        print(f"{k * step:5d} ms  in flight {in_flight / step:4.1f}  answers {len(done):3d}  "
              f"{sum(s[2] for s in done) / 1e6:5.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1])
