-- enqueue_dag: store a batch of one queue's jobs of which some depend on others
-- (workflows), all in this one script: a job with an unfinished parent is stored
-- blocked (state "waiting", linked in `edges`, counted in `waits`); one whose parent
-- already ended badly ends at once by its policy, down the DAG; the others wait to
-- run as enqueue.lua stores them. Unique keys are not taken here (the driver refuses
-- them in such a batch).
--
-- KEYS  one queue block
-- ARGV  [1] now  [2] n, the number of jobs, then 7 values per job: id, record,
--       score, entry (as enqueue.lua), route ("r" due, "s" scheduled), parents (a
--       MessagePack array of ids), on_parent_failure; then, for a flow's batch
--       (FlowProducer): flow id, its record (MessagePack [ids, names]), retention
-- Returns {} when stored, or {"unknown", job id, parent id} when a parent is neither
-- in the batch, nor stored in this queue, nor remembered as completed: then nothing
-- is stored.
local K = block(1)
local now, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local F = 7

local function at(i, field) return ARGV[3 + (i - 1) * F + field] end

local batch = {}
for i = 1, n do batch[at(i, 0)] = true end
for i = 1, n do
  for _, parent in ipairs(cmsgpack.unpack(at(i, 5))) do
    if not batch[parent] and redis.call("HEXISTS", K[JOBS], parent) == 0
        and not redis.call("ZSCORE", K[DONE], parent) then
      return {"unknown", at(i, 0), parent}
    end
  end
end

local stored = {}
for i = 1, n do  -- a job already stored (a retried call whose reply was lost) is left alone
  if redis.call("HSETNX", K[JOBS], at(i, 0), at(i, 1)) == 1 then stored[#stored + 1] = i end
end

local woken, ended = 0, {}
for _, i in ipairs(stored) do
  local id, policy = at(i, 0), at(i, 6)
  local waiting, bad, bad_how = 0, nil, nil
  for _, parent in ipairs(cmsgpack.unpack(at(i, 5))) do
    local pm = load(K, parent, now)
    local state = pm and pm[STATE] or "completed"  -- (not stored: remembered as done)
    if state == "pending" or state == "active" or state == "waiting" then
      redis.call("ZADD", K[EDGES], 0, parent .. "\0" .. id)
      waiting = waiting + 1
    elseif state ~= "completed" and not bad and policy ~= "run" then
      bad, bad_how = parent, state
    end
  end
  local m, data = load(K, id, now)
  if bad then  -- (edges made above are left: parent_done() skips an ended child)
    ended[#ended + 1] = {id, end_by_parent(K, id, m, data, policy, bad, bad_how, now)}
  elseif waiting > 0 then
    m[STATE] = "waiting"
    save(K, id, m, data)
    redis.call("HSET", K[WAITS], id, waiting)
    if policy ~= "fail" then redis.call("HSET", K[WAITS], "!" .. id, policy) end
  elseif at(i, 4) == "r" then
    redis.call("ZADD", K[READY], at(i, 2), at(i, 3))
    woken = woken + 1
  else
    redis.call("ZADD", K[SCHEDULED], at(i, 2), at(i, 3))
    woken = math.max(woken, 1)
  end
  if not bad and waiting == 0 and m and type(m[EXPIRES_AT]) == "number" then
    redis.call("ZADD", K[EXPIRING], m[EXPIRES_AT], id)  -- the expiry sweep's index
  end
end
woken = woken + parents_ended(K, ended, now)
wake(K, woken)
local flow = ARGV[3 + n * F]
if flow then  -- the flow's record, with the jobs; flows older than the retention go
  redis.call("HSET", K[FLOWS], flow, ARGV[4 + n * F])
  redis.call("ZADD", K[FLOWS_AGE], now, flow)
  local old = redis.call("ZRANGEBYSCORE", K[FLOWS_AGE], "-inf",
    exclusive(now - tonumber(ARGV[5 + n * F])), "LIMIT", 0, SWEEP)
  if #old > 0 then
    redis.call("ZREM", K[FLOWS_AGE], unpack(old))
    redis.call("HDEL", K[FLOWS], unpack(old))
  end
end
return {}
