# callgrind-self.awk — the instructions each function ran itself (not in its callees), from a
# callgrind output file, divided by REQUESTS: one `Ir-per-request<TAB>share<TAB>function` line
# per function, unsorted.
#
#   awk -v REQUESTS=5000 -f callgrind-self.awk callgrind.out.1 | sort -rn
#
# (`callgrind_annotate` 3.19 credits every instruction to `clone` in the exclusive view of a
# dump taken with `callgrind_control --dump`; its inclusive view is right.)
# Names are compressed in the file: `fn=(12) name` defines id 12, a later `fn=(12)` refers to
# it, and `cfn=` lines share the ids. The cost line after `calls=` is the callee's inclusive
# cost, so it is not the caller's own.
function name(spec,   id, rest) {
  if (match(spec, /^\([0-9]+\)/)) {
    id = substr(spec, 2, RLENGTH - 2)
    rest = substr(spec, RLENGTH + 2)
    if (rest != "") names[id] = rest
    return names[id]
  }
  return spec
}
/^fn=/ { fn = name(substr($0, 4)); next }
/^cfn=/ { name(substr($0, 5)); next }
/^calls=/ { inclusive = 1; next }
/^[0-9+*-]/ {
  if (inclusive) { inclusive = 0; next }
  self[fn] += $2
  total += $2
  next
}
END {
  if (REQUESTS < 1) REQUESTS = 1
  for (f in self) printf "%.1f\t%.1f%%\t%s\n", self[f] / REQUESTS, 100 * self[f] / total, f
}
