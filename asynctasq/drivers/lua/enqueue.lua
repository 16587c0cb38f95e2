-- enqueue: store a chunk of new jobs of one queue.
--
-- KEYS  one queue block (see _prelude.lua)
-- ARGV  [1] now
--       [2] MessagePack array of [id, record, priority, entry, run_at, unique_key|nil]
--           (entry: the job's ready/scheduled member, built by codec.run_key)
-- Returns a flat array [index0, holder_id, ...] for the jobs NOT stored because an
-- unfinished job holds their unique_key (index0 is 0-based). A job whose id is
-- already stored is left alone, so a retried call (lost reply) changes nothing.
local K = block(1)
local now = tonumber(ARGV[1])
local items = cmsgpack.unpack(ARGV[2])

local ids = {}
for i, item in ipairs(items) do ids[i] = item[1] end
local stored = redis.call("HMGET", K[JOBS], unpack(ids))

local jobs, ready, later, held, seen = {}, {}, {}, {}, {}
for i, item in ipairs(items) do
  local id, unique_key = item[1], item[6]
  local holder = nil
  if stored[i] or seen[id] then
    holder = id
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
    jobs[#jobs + 1] = id
    jobs[#jobs + 1] = item[2]
    if item[5] <= now then
      ready[#ready + 1] = item[3]
      ready[#ready + 1] = item[4]
    else
      later[#later + 1] = item[5]
      later[#later + 1] = item[4]
    end
  end
end

if #jobs > 0 then redis.call("HSET", K[JOBS], unpack(jobs)) end
if #ready > 0 then redis.call("ZADD", K[READY], unpack(ready)) end
if #later > 0 then redis.call("ZADD", K[SCHEDULED], unpack(later)) end
-- a scheduled job needs one token too: a waiting worker recomputes its next due time
wake(K, #ready / 2 + ((#later > 0) and 1 or 0))
return held
