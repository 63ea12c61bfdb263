#!/usr/bin/env bash
# The SQL of a catalogue search on PostgreSQL at 50,000 packages, without Wharf's process:
# the statements a search ran before (exact-name probe, one ranked statement per relevance
# tier the page reaches, the count, the page's columns; weight filters such as 'http':*A on
# the whole document) against the one statement it runs now (ts_filter parts under their
# own GIN indexes), with the `ILIKE` baseline of scripts/bench/search.sh, timed by pgbench
# on a throwaway cluster over a Unix socket. The table is synthetic but shaped like the
# bench's (names of two words and a number, 8-word descriptions, 3 keywords, 80-word
# READMEs drawn from the same 40 words), filled by SQL in seconds instead of the real
# publish path's half hour. Rounds alternate old, new and baseline for each query.
# "partial" is the one statement on a copy of the table with a GIN index of the documents of
# packages not fully yanked (`WHERE all_yanked = 0`), its count reading no column from the
# heap (every match, minus the exact name when it is one, plus the exact name).
# Usage: scripts/bench/search-sql-postgres.sh        (PACKAGES=50000 ROUNDS=3 TRANSACTIONS=30;
#        EXPLAIN=1 also prints the plans of `http`, now and partial)
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "$0")/lib.sh"
PACKAGES=${PACKAGES:-50000}
ROUNDS=${ROUNDS:-3}
TRANSACTIONS=${TRANSACTIONS:-30}
BIN=${WHARF_POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
ensure_tools python3:python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wharf-search-sql.XXXXXX")
chmod 755 "$WORK"
RUN=()
if [ "$(id -u)" -eq 0 ]; then chown nobody "$WORK"; RUN=(runuser -u nobody --); fi
stop() { "${RUN[@]}" "$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap stop EXIT
"${RUN[@]}" "$BIN/initdb" -D "$WORK/data" --locale=C -A trust -U postgres >/dev/null
"${RUN[@]}" "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/log" -w \
  -o "-p 5432 -k $WORK -c listen_addresses=''" start >/dev/null
PSQL=("${RUN[@]}" "$BIN/psql" -h "$WORK" -U postgres -q -v ON_ERROR_STOP=1)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK" "$PACKAGES" <<'PY'
import sys
work, packages = sys.argv[1], int(sys.argv[2])
words = ("http client server async retry queue email storage json parser sql connector webhook "
         "schedule timer mapper cache stream auth token crypto hash log metrics trace config cli "
         "template render image archive compress notify approval flow pipeline batch event socket file")
setup = f"""
CREATE FUNCTION sentence(n int) RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg((string_to_array('{words}', ' '))[1 + floor(random() * 40)::int + 0 * g], ' ')
  FROM generate_series(1, n) g $$;
CREATE FUNCTION words(body text, weight "char") RETURNS tsvector LANGUAGE sql IMMUTABLE AS $$
  SELECT setweight(to_tsvector('simple', regexp_replace(coalesce(body, ''), '[[:punct:]]+', ' ', 'g')), weight) $$;
SELECT setseed(0.11);
CREATE TABLE packages (id bigint PRIMARY KEY, name text, canonical_name text UNIQUE, description text);
INSERT INTO packages SELECT g, n, replace(n, '-', '_'), sentence(8)
  FROM (SELECT g, sentence(1) || '-' || sentence(1) || '-' || g AS n FROM generate_series(1, {packages}) g) s;
CREATE TABLE versions (id bigint PRIMARY KEY, package_id bigint, version text, metadata text);
INSERT INTO versions SELECT id, id, '1.0.0', json_build_object('description', description)::text FROM packages;
CREATE TABLE catalogue_entries (package_id bigint PRIMARY KEY, version_id bigint, kind text NOT NULL DEFAULT 'crate',
  updated_at bigint NOT NULL DEFAULT 0, all_yanked bigint NOT NULL DEFAULT 0, document tsvector NOT NULL);
INSERT INTO catalogue_entries (package_id, version_id, document)
  SELECT id, id, words(name, 'A') || words(description, 'B') || words(sentence(3), 'B')
                 || words('# ' || name || ' ' || sentence(80), 'D') FROM packages;
CREATE INDEX catalogue_entries_document ON catalogue_entries USING gin (document);
CREATE INDEX catalogue_entries_name_words ON catalogue_entries USING gin (ts_filter(document, '{{a}}'));
CREATE INDEX catalogue_entries_main_words ON catalogue_entries USING gin (ts_filter(document, '{{a,b}}'));
CREATE TABLE catalogue_entries_live (LIKE catalogue_entries INCLUDING ALL);
INSERT INTO catalogue_entries_live SELECT * FROM catalogue_entries;
CREATE INDEX catalogue_entries_live_document ON catalogue_entries_live USING gin (document)
  WHERE all_yanked = 0;
CREATE TABLE download_totals (package_id bigint PRIMARY KEY, total bigint);
CREATE TABLE reviews (package_id bigint, rating bigint, hidden_at bigint);
CREATE INDEX ON reviews (package_id, rating) WHERE hidden_at IS NULL;
VACUUM ANALYZE;
"""
open(f"{work}/setup.sql", "w").write(setup)
def q(ws, weights=""):
    return " & ".join(f"''{w}'':*{weights}" for w in ws)
hit = """p.name, v.version, v.metadata, e.kind, e.updated_at,
 coalesce((SELECT total FROM download_totals d WHERE d.package_id = e.package_id), 0),
 (SELECT CAST(coalesce(sum(r.rating), 0) AS BIGINT) FROM reviews r WHERE r.package_id = e.package_id AND r.hidden_at IS NULL),
 (SELECT count(*) FROM reviews r WHERE r.package_id = e.package_id AND r.hidden_at IS NULL)"""
exact = "SELECT e.package_id FROM packages p JOIN catalogue_entries e ON e.package_id = p.id WHERE p.canonical_name = '{}' AND e.all_yanked = 0"
rank = "ts_rank_cd(e.document, to_tsquery('simple', '{}'), 1)"
for text in ["http", "retry queue", "sql connector", "email", "stream"]:
    ws, key = text.split(), text.replace(" ", "_")
    allq = q(ws)
    # Before: one statement per step; a two-word query reaches the second tier on this corpus.
    old = [exact.format(key) + ";"]
    tiers = [q(ws, "A"), f"({q(ws, 'AB')}) & !({q(ws, 'A')})"]
    for t in tiers[: 1 if len(ws) == 1 else 2]:
        old.append(f"SELECT e.package_id FROM catalogue_entries e JOIN packages p ON p.id = e.package_id "
                   f"WHERE e.document @@ to_tsquery('simple', '{t}') AND e.all_yanked = 0 "
                   f"ORDER BY {rank.format(allq)} DESC, p.name LIMIT 20 OFFSET 0;")
    old.append(f"SELECT count(*) FROM catalogue_entries e WHERE e.document @@ to_tsquery('simple', '{allq}') AND e.all_yanked = 0;")
    old.append(f"SELECT {hit} FROM jsonb_array_elements_text(CAST(CAST('{list(range(1000, 1020))}' AS text) AS jsonb)) "
               "WITH ORDINALITY AS j(value, key) JOIN catalogue_entries e ON e.package_id = CAST(j.value AS BIGINT) "
               "JOIN packages p ON p.id = e.package_id JOIN versions v ON v.id = e.version_id ORDER BY j.key;")
    # Now: one statement, later tiers read only while the page has room.
    conds = [f"ts_filter(e.document, '{{a}}') @@ to_tsquery('simple', '{allq}')",
             f"ts_filter(e.document, '{{a,b}}') @@ to_tsquery('simple', '{allq}') AND NOT ts_filter(e.document, '{{a}}') @@ to_tsquery('simple', '{allq}')",
             f"e.document @@ to_tsquery('simple', '({allq}) & !({q(ws, 'AB')})')"]
    new = f"WITH exact AS ({exact.format(key)}), "
    before = ["SELECT package_id FROM exact"]
    for i, c in enumerate(conds, 1):
        limit = "20 OFFSET 0" if i == 1 else (
            f"(SELECT CASE WHEN count(*) < 20 THEN CAST(20 AS BIGINT) ELSE 0 END FROM ({' UNION ALL '.join(before)}) AS before_{i})")
        new += (f"ranked_{i} AS (SELECT e.package_id AS id, {i} AS tier, {rank.format(allq)} AS sort_key_0, p.name AS sort_name "
                f"FROM catalogue_entries e JOIN packages p ON p.id = e.package_id WHERE {c} "
                f"AND e.package_id NOT IN (SELECT package_id FROM exact) AND e.all_yanked = 0 "
                f"ORDER BY sort_key_0 DESC, p.name LIMIT {limit}), ")
        before.append(f"SELECT id FROM ranked_{i}")
    new += ("page AS (SELECT package_id AS id, 0 AS tier, NULL AS sort_key_0, NULL AS sort_name FROM exact "
            "UNION ALL SELECT * FROM ranked_1 UNION ALL SELECT * FROM ranked_2 UNION ALL SELECT * FROM ranked_3), "
            f"matched AS (SELECT (SELECT count(*) FROM catalogue_entries e WHERE e.document @@ to_tsquery('simple', '{allq}') "
            "AND e.package_id NOT IN (SELECT package_id FROM exact) AND e.all_yanked = 0) + (SELECT count(*) FROM exact) AS n) "
            f"SELECT matched.n, page.id, page.tier, {hit} FROM matched LEFT JOIN page ON 1 = 1 "
            "LEFT JOIN catalogue_entries e ON e.package_id = page.id LEFT JOIN packages p ON p.id = e.package_id "
            "LEFT JOIN versions v ON v.id = e.version_id ORDER BY page.tier, page.sort_key_0 DESC, page.sort_name LIMIT 20;")
    # Partial: the same statement on a copy of the table that also has a GIN index of the
    # documents of packages not fully yanked, and the count written so it reads no column
    # from the heap: every match, minus the exact name when it is one, plus the exact name.
    count_now = (f"(SELECT count(*) FROM catalogue_entries e WHERE e.document @@ to_tsquery('simple', '{allq}') "
                 "AND e.package_id NOT IN (SELECT package_id FROM exact) AND e.all_yanked = 0)")
    count_partial = (f"(SELECT count(*) FROM catalogue_entries e WHERE e.document @@ to_tsquery('simple', '{allq}') "
                     "AND e.all_yanked = 0) - (SELECT count(*) FROM catalogue_entries e "
                     "WHERE e.package_id IN (SELECT package_id FROM exact) "
                     f"AND e.document @@ to_tsquery('simple', '{allq}') AND e.all_yanked = 0)")
    assert count_now in new
    partial = new.replace(count_now, count_partial).replace("catalogue_entries ", "catalogue_entries_live ")
    cond = " AND ".join(f"(name ILIKE '%{w}%' OR description ILIKE '%{w}%')" for w in ws)
    base = f"SELECT name, description FROM packages WHERE {cond} ORDER BY name LIMIT 20;"
    for kind, sql in [("before", "\n".join(s.replace("\n", " ") for s in old)), ("now", new.replace("\n", " ")),
                      ("partial", partial.replace("\n", " ")), ("ilike", base)]:
        open(f"{work}/{kind}-{key}.sql", "w").write(sql + "\n")
PY
chmod 644 "$WORK"/*.sql
log "filling $PACKAGES packages"
"${PSQL[@]}" -f "$WORK/setup.sql" >/dev/null
if [ "${EXPLAIN:-0}" = 1 ]; then
  for kind in now partial; do
    echo "plan of $kind-http:"
    sed 's/^/EXPLAIN (ANALYZE, BUFFERS) /' "$WORK/$kind-http.sql" | "${PSQL[@]}" -f -
  done
fi
for round in $(seq "$ROUNDS"); do
  for key in http retry_queue sql_connector email stream; do
    for kind in before now partial ilike; do
      latency=$("${RUN[@]}" "$BIN/pgbench" -h "$WORK" -U postgres -n -t "$TRANSACTIONS" \
        -f "$WORK/$kind-$key.sql" postgres 2>/dev/null | awk '/latency average/ {print $4}')
      echo "round=$round query=$key side=$kind latency_ms=$latency"
    done
  done
done
