-- wrk script: GET random sparse-index files from a fixed list, optionally conditional.
--
--   [WRK_PACE_MS=N] wrk ... -s random-index.lua http://127.0.0.1:PORT -- LIST [conditional]
--
-- LIST has one `path<TAB>etag` line per index file (the path under /index/). With
-- `conditional`, every request carries `If-None-Match: <etag>` (the server's own ETag for that
-- path, so the answer is 304); otherwise requests are plain GETs (200). No Accept-Encoding is
-- sent, so servers answer with identity bytes. With WRK_PACE_MS=N in the environment, every
-- connection waits N milliseconds after each answer before its next request, so the offered
-- rate stays below what either server (and wrk itself) can do and the latencies compare
-- servers, not queues. (wrk decides whether a script paces when it loads it, before `init`,
-- so the pace comes from the environment and `delay` exists only when it is set.)
-- With WRK_AUTH_TOKEN=T in the environment, every request carries `Authorization: T`, as
-- cargo sends it to a registry that requires a token.
-- With WRK_REQUESTS=N in the environment, each wrk thread stops sending after N answers
-- (requests still in flight on its other connections may be answered too) and, with
-- WRK_DONE_FILE=PATH, creates PATH then (give such runs one thread), for runs of a fixed size such as a
-- profile whose cost is divided by the requests the server counted. (wrk itself runs until
-- its -d duration ends, so whoever waits for the files stops it.)
-- With WRK_INDEX_PREFIX=P in the environment, paths are asked under P instead of `/index/`
-- (a tenant's index: `/t/acme/index/`).
-- `done` prints one machine-readable line.

local thread_number = 0
local index_prefix = os.getenv("WRK_INDEX_PREFIX") or "/index/"

function setup(thread)
  thread_number = thread_number + 1
  thread:set("thread_number", thread_number)
end

local requests = {}
local pace_ms = tonumber(os.getenv("WRK_PACE_MS") or "")
local auth_token = os.getenv("WRK_AUTH_TOKEN")

function init(args)
  local list, mode = args[1], args[2]
  if list == nil then
    error("usage: wrk ... -s random-index.lua URL -- LIST [conditional]")
  end
  local conditional = mode == "conditional"
  for line in io.lines(list) do
    local path, etag = line:match("^([^\t]+)\t(.+)$")
    if path ~= nil then
      local headers = {}
      if conditional then
        headers["If-None-Match"] = etag
      end
      if auth_token ~= nil and auth_token ~= "" then
        headers["Authorization"] = auth_token
      end
      requests[#requests + 1] = wrk.format("GET", index_prefix .. path, headers)
    end
  end
  if #requests == 0 then
    error("no `path<TAB>etag` lines in " .. list)
  end
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
end

if pace_ms ~= nil and pace_ms > 0 then
  function delay()
    return pace_ms
  end
end

local max_answers = tonumber(os.getenv("WRK_REQUESTS") or "")
if max_answers ~= nil and max_answers > 0 then
  local answers = 0
  function response()
    answers = answers + 1
    if answers == max_answers then
      wrk.thread:stop()
      local done_file = os.getenv("WRK_DONE_FILE")
      if done_file ~= nil and done_file ~= "" then
        io.open(done_file, "w"):close()
      end
    end
  end
end

function request()
  return requests[math.random(#requests)]
end

function done(summary, latency, _)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "bytes=%d non_2xx_3xx=%d socket_errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.bytes, errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
