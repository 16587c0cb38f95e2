--! standalone: no _prelude.lua (see scripts.py); a dispatch pays only this file
-- enqueue_due: store a chunk of new jobs of one queue that are all due now, with no
-- unique_key, deduplication mode or ttl: the common dispatch, whose per-call cost is
-- most of a single dispatch's time in Redis (enqueue.lua serves every other case).
--
-- KEYS  [1] the queue's jobs hash  [2] its ready set  [3] its WAKE list
--       (QUEUE_KEYS in asynctasq/drivers/keys.py: its JOBS, READY and WAKE)
-- ARGV  enqueue.lua's layout with ARGV[2] == "1": [1] n, [2] "1", then
--       ids: id...   records: id, record...   waiting: priority, entry...
-- Returns {} (nothing is held: no job of this call has a unique_key). A job whose id
-- is already stored is left alone, so a retried call (lost reply) changes nothing.
local JOBS, READY, WAKE = KEYS[1], KEYS[2], KEYS[3]
local WAKE_CAP = 16  -- keys.WAKE_CAP, as in _prelude.lua
local n = tonumber(ARGV[1])
local IDS, RECORDS, WAITING = 3, 3 + n, 3 + 3 * n

local stored_now
if n == 1 then
  if redis.call("HSETNX", JOBS, ARGV[RECORDS], ARGV[RECORDS + 1]) == 0 then return {} end
  redis.call("ZADD", READY, ARGV[WAITING], ARGV[WAITING + 1])
  stored_now = 1
else
  local stored = redis.call("HMGET", JOBS, unpack(ARGV, IDS, IDS + n - 1))
  local fresh = true
  for i = 1, n do
    if stored[i] then fresh = false break end
  end
  if fresh then
    redis.call("HSET", JOBS, unpack(ARGV, RECORDS, RECORDS + 2 * n - 1))
    redis.call("ZADD", READY, unpack(ARGV, WAITING, WAITING + 2 * n - 1))
    stored_now = n
  else  -- a retried call: store only what is not stored yet
    local records, ready, seen = {}, {}, {}
    for i = 1, n do
      local id = ARGV[IDS + i - 1]
      if not stored[i] and not seen[id] then
        seen[id] = true
        local r, w = RECORDS + 2 * (i - 1), WAITING + 2 * (i - 1)
        records[#records + 1] = id
        records[#records + 1] = ARGV[r + 1]
        ready[#ready + 1] = ARGV[w]
        ready[#ready + 1] = ARGV[w + 1]
      end
    end
    if #records == 0 then return {} end
    redis.call("HSET", JOBS, unpack(records))
    redis.call("ZADD", READY, unpack(ready))
    stored_now = #records / 2
  end
end

-- a token per stored job, at most WAKE_CAP (as enqueue.lua does)
local tokens = {}
for i = 1, math.min(stored_now, WAKE_CAP) do tokens[i] = "1" end
if redis.call("LPUSH", WAKE, unpack(tokens)) > WAKE_CAP then
  redis.call("LTRIM", WAKE, 0, WAKE_CAP - 1)
end
return {}
