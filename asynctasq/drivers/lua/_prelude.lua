-- Shared by every script: asynctasq/drivers/redis/scripts.py prepends this file.
--
-- A queue's keys arrive as one block of NKEYS KEYS, in the order of QUEUE_KEYS in
-- asynctasq/drivers/keys.py (that module documents what each key holds). All keys
-- of a block share the queue's hash tag, so every script runs on Redis Cluster.
--
-- A job is one field of the `jobs` hash: its record is the MessagePack array "meta"
-- (the mutable fields, read and rewritten here) followed by "data" (immutable,
-- opaque bytes only Python reads). In meta `false` means "none": a Lua array cannot
-- hold nil. Times are epoch seconds from the client.

local READY, SCHEDULED, ACTIVE, JOBS, ERRORS, RESULTS = 1, 2, 3, 4, 5, 6
local COMPLETED, FAILED, CANCELLED, UNIQUE, WAKE, PAUSED = 7, 8, 9, 10, 11, 12
local NKEYS = 12

local STATE, ATTEMPTS, MAX_ATTEMPTS, PRIORITY, RUN_AT = 1, 2, 3, 4, 5
local WORKER, FINISHED_AT, UNIQUE_KEY, CREATED_AT, PROGRESS = 6, 7, 8, 9, 10

local WAKE_CAP = 16     -- keys.WAKE_CAP: idle workers one enqueue can wake
local SWEEP = 500       -- most expired jobs one call deletes: scripts stay short
local MAX_RUN_US = 9007199254740991  -- 2^53 - 1: exact in a double, 16 digits

local function block(i)
  local base, k = (i - 1) * NKEYS, {}
  for j = 1, NKEYS do k[j] = KEYS[base + j] end
  return k
end

-- The member of a waiting job in ready/scheduled: "<16-digit run_at in
-- microseconds><id>", so equal priorities pop oldest run_at first. codec.run_key()
-- builds the same string in Python; tests/drivers/test_redis_scripts.py checks both.
local function run_entry(run_at, id)
  local us = math.floor(run_at * 1000000)
  if us < 0 then us = 0 elseif us > MAX_RUN_US then us = MAX_RUN_US end
  return string.format("%016d", us) .. id
end

local function entry_id(entry)
  return string.sub(entry, 17)
end

-- an exclusive score bound, exact (Lua's own number formatting keeps 14 digits)
local function exclusive(x)
  return "(" .. string.format("%.17g", x)
end

local function split(record)
  local offset, m = cmsgpack.unpack_one(record)
  return m, string.sub(record, offset + 1)
end

local function meta_of(record)
  local _, m = cmsgpack.unpack_one(record)
  return m
end

local function join(m, data)
  return cmsgpack.pack(m) .. data
end

local function load(K, id)
  local record = redis.call("HGET", K[JOBS], id)
  if not record then return nil end
  return split(record)
end

local function save(K, id, m, data)
  redis.call("HSET", K[JOBS], id, join(m, data))
end

-- a pending job goes to `ready` when due, else to `scheduled`; true if ready
local function push_waiting(K, id, m, now)
  local entry = run_entry(m[RUN_AT], id)
  if m[RUN_AT] <= now then
    redis.call("ZADD", K[READY], m[PRIORITY], entry)
    return true
  end
  redis.call("ZADD", K[SCHEDULED], m[RUN_AT], entry)
  return false
end

local function unlink_waiting(K, id, m)
  local entry = run_entry(m[RUN_AT], id)
  redis.call("ZREM", K[READY], entry)
  redis.call("ZREM", K[SCHEDULED], entry)
end

local function release_unique(K, m, id)
  local key = m[UNIQUE_KEY]
  if key and redis.call("HGET", K[UNIQUE], key) == id then
    redis.call("HDEL", K[UNIQUE], key)
  end
end

local function drop_records(K, ids)
  if #ids == 0 then return end
  redis.call("HDEL", K[JOBS], unpack(ids))
  redis.call("HDEL", K[ERRORS], unpack(ids))
  redis.call("HDEL", K[RESULTS], unpack(ids))
end

-- tokens for idle workers blocked in BLPOP on the wake list (one per job, capped)
local function wake(K, n)
  if n <= 0 then return end
  local tokens = {}
  for i = 1, math.min(n, WAKE_CAP) do tokens[i] = "1" end
  redis.call("LPUSH", K[WAKE], unpack(tokens))
  redis.call("LTRIM", K[WAKE], 0, WAKE_CAP - 1)
end

-- move up to `max` due jobs from `scheduled` to `ready`; returns how many
local function promote(K, now, max)
  local due = redis.call("ZRANGEBYSCORE", K[SCHEDULED], "-inf", now, "LIMIT", 0, max)
  if #due == 0 then return 0 end
  local ids = {}
  for i, entry in ipairs(due) do ids[i] = entry_id(entry) end
  local records = redis.call("HMGET", K[JOBS], unpack(ids))
  local ready = {}
  for i, entry in ipairs(due) do
    if records[i] then
      ready[#ready + 1] = meta_of(records[i])[PRIORITY]
      ready[#ready + 1] = entry
    end
  end
  if #ready > 0 then redis.call("ZADD", K[READY], unpack(ready)) end
  redis.call("ZREM", K[SCHEDULED], unpack(due))
  return #due
end

-- a finished job moves to one of the finished sets (completed, failed, cancelled)
local function finish(K, id, m, data, set, state, now)
  m[STATE], m[WORKER], m[FINISHED_AT] = state, false, now
  release_unique(K, m, id)
  save(K, id, m, data)
  redis.call("ZADD", K[set], now, id)
end

-- bound a finished set: drop members older than `ttl` seconds (0: keep) and the
-- oldest beyond `max` (negative: no cap), at most SWEEP per call
local function trim(K, set, now, ttl, max)
  local doomed = {}
  if ttl > 0 then
    doomed = redis.call("ZRANGEBYSCORE", K[set], "-inf", exclusive(now - ttl), "LIMIT", 0, SWEEP)
  end
  if max >= 0 and #doomed < SWEEP then
    local over = redis.call("ZCARD", K[set]) - #doomed - max
    if over > 0 then
      local oldest = redis.call("ZRANGE", K[set], #doomed, #doomed + math.min(over, SWEEP) - 1)
      for _, id in ipairs(oldest) do doomed[#doomed + 1] = id end
    end
  end
  if #doomed == 0 then return 0 end
  drop_records(K, doomed)
  redis.call("ZREM", K[set], unpack(doomed))
  return #doomed
end

-- appends [id, record, error, result, lease_until] per job found (false: absent)
local function fetch(K, ids, out)
  if #ids == 0 then return out end
  local records = redis.call("HMGET", K[JOBS], unpack(ids))
  local errors = redis.call("HMGET", K[ERRORS], unpack(ids))
  local results = redis.call("HMGET", K[RESULTS], unpack(ids))
  for i, id in ipairs(ids) do
    if records[i] then
      out[#out + 1] = id
      out[#out + 1] = records[i]
      out[#out + 1] = errors[i]
      out[#out + 1] = results[i]
      out[#out + 1] = redis.call("ZSCORE", K[ACTIVE], id)
    end
  end
  return out
end
