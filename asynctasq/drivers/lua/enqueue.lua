-- enqueue: store a chunk of new jobs of one queue (at most 1,000: unpack() limits).
--
-- KEYS  one queue block (see _prelude.lua)
-- ARGV  [1] n, the number of jobs  [2] "1" when every job is due now and none has
--       a unique_key (the common case: no per-job work in Lua), else "0"
--       then four runs of n (or 2n) values, so commands take them as they are:
--       ids: id...   records: id, record...   waiting: score, entry...
--       (score = priority for a due job, run_at for a scheduled one; entry = its
--       member in ready/scheduled, built by codec.run_key)
--       routes (only when ARGV[2] is "0"): "r" (due) or "s" (scheduled) per job,
--       followed by the job's unique_key if it has one, or for a deduplication mode
--       (asynctasq/dedup.py) by "\1<mode>\1<now>\1<until>\1<key>": mode s
--       (until_started), t (throttle: held until <until>) or d (debounce)
--       expiries (only when ARGV[2] is "0"): the job's expires_at, or "" (no ttl)
-- A deduplication mode keeps its lock in the unique hash under "\1<key>" (apart
-- from unique_key's fields): "<mode>\1<until>\1<holder id>". Throttle holds until
-- <until>; the others while the holder waits (pending, scheduled or blocked). A
-- debounced duplicate gives the waiting holder its data (payload) and run_at.
-- Returns a flat array [index0, holder_id, ...] for the jobs NOT stored because an
-- unfinished job holds their unique_key (index0 is 0-based). A job whose id is
-- already stored is left alone, so a retried call (lost reply) changes nothing.
local K = block(1)
local n, simple = tonumber(ARGV[1]), ARGV[2] == "1"
local IDS, RECORDS, WAITING, ROUTES = 3, 3 + n, 3 + 3 * n, 3 + 5 * n
local EXPIRIES = ROUTES + n

local stored = redis.call("HMGET", K[JOBS], unpack(ARGV, IDS, IDS + n - 1))
local fresh = true
for i = 1, n do
  if stored[i] then fresh = false break end
end

if simple and fresh then
  redis.call("HSET", K[JOBS], unpack(ARGV, RECORDS, RECORDS + 2 * n - 1))
  redis.call("ZADD", K[READY], unpack(ARGV, WAITING, WAITING + 2 * n - 1))
  wake(K, n)
  return {}
end

local jobs, ready, later, held, seen, expiring = {}, {}, {}, {}, {}, {}
local moved = 0  -- holders a debounce moved (a waiting worker re-times its wait)
local stored_now = 0  -- jobs with a mode, written at once (a duplicate later in this
                      -- call reads its holder from the jobs hash)

-- the id of the job holding a deduplication lock, or nil after taking it for `id`
local function dedup_holder(mode, now, until_at, key, id, record)
  local field = "\1" .. key
  local lock = redis.call("HGET", K[UNIQUE], field)
  if lock then
    local lmode, luntil, hid = string.match(lock, "^(%a)\1([^\1]*)\1(.*)$")
    if lmode == "t" then
      if tonumber(luntil) and tonumber(luntil) > now then return hid end
    elseif hid then
      local m, data = decode(redis.call("HGET", K[JOBS], hid))
      if m and (m[STATE] == "pending" or m[STATE] == "waiting") then
        if lmode == "d" and mode == "d" and m[STATE] == "pending" then
          local nm, ndata = decode(record)
          if nm then
            unlink_waiting(K, hid, m)
            m[RUN_AT], m[EXPIRES_AT] = nm[RUN_AT], nm[EXPIRES_AT]
            save(K, hid, m, ndata)
            push_waiting(K, hid, m, now)
            moved = 1
          end
        end
        return hid
      end
    end
  end
  redis.call("HSET", K[UNIQUE], field, mode .. "\1" .. until_at .. "\1" .. id)
  return nil
end
for i = 1, n do
  local id = ARGV[IDS + i - 1]
  local route = simple and "r" or ARGV[ROUTES + i - 1]
  local unique_key = #route > 1 and string.sub(route, 2) or nil
  local holder, at_once = nil, false
  if stored[i] or seen[id] then
    holder = id
  elseif unique_key and string.byte(unique_key, 1) == 1 then
    at_once = true
    local mode, now, until_at, key = string.match(unique_key, "^\1(%a)\1([^\1]*)\1([^\1]*)\1(.*)$")
    holder = dedup_holder(mode, tonumber(now), until_at, key, id, ARGV[RECORDS + 2 * (i - 1) + 1])
  elseif unique_key then
    holder = redis.call("HGET", K[UNIQUE], unique_key)
    if not holder then redis.call("HSET", K[UNIQUE], unique_key, id) end
  end
  if holder then
    if holder ~= id then
      held[#held + 1] = i - 1
      held[#held + 1] = holder
    end
  else
    seen[id] = true
    local r, w = RECORDS + 2 * (i - 1), WAITING + 2 * (i - 1)
    local due = string.sub(route, 1, 1) == "r"
    if at_once then
      redis.call("HSET", K[JOBS], id, ARGV[r + 1])
      redis.call("ZADD", due and K[READY] or K[SCHEDULED], ARGV[w], ARGV[w + 1])
      if due then stored_now = stored_now + 1 else moved = 1 end
    else
      jobs[#jobs + 1] = id
      jobs[#jobs + 1] = ARGV[r + 1]
      local into = due and ready or later
      into[#into + 1] = ARGV[w]
      into[#into + 1] = ARGV[w + 1]
    end
    local expires_at = ARGV[EXPIRIES + i - 1]
    if expires_at ~= "" then
      expiring[#expiring + 1] = expires_at
      expiring[#expiring + 1] = id
    end
  end
end

if #jobs > 0 then redis.call("HSET", K[JOBS], unpack(jobs)) end
if #ready > 0 then redis.call("ZADD", K[READY], unpack(ready)) end
if #later > 0 then redis.call("ZADD", K[SCHEDULED], unpack(later)) end
if #expiring > 0 then redis.call("ZADD", K[EXPIRING], unpack(expiring)) end
-- a scheduled job needs one token too: a waiting worker recomputes its next due time
wake(K, #ready / 2 + stored_now + ((#later > 0 or moved > 0) and 1 or 0))
return held
