-- enqueue_dag: store a batch of jobs of which some depend on others (workflows), all
-- in this one script: a job with an unfinished parent is stored blocked (state
-- "waiting", linked in its parent's queue's `edges`, counted in its own queue's
-- `waits`); one whose parent already ended badly ends at once by its policy, down
-- the DAG; the others wait to run as enqueue.lua stores them. Unique keys are not
-- taken here (the driver refuses them in such a batch). The jobs may be in several
-- queues, and a parent in another queue than its child, on plain Redis only (the
-- driver refuses that on Redis Cluster: the blocks' slots differ).
--
-- KEYS  one queue block per queue of the batch (the first holds a flow's record),
--       then one per queue that holds a parent stored earlier in another queue than
--       its child
-- ARGV  [1] now  [2] n, the number of jobs  [3] a MessagePack map: parent id -> the
--       block (1-based) of a parent stored earlier in another queue than its child
--       (the driver located it; a parent missing there is in its child's queue)
--       then 8 values per job: id, record, score, entry (as enqueue.lua), route
--       ("r" due, "s" scheduled), parents (a MessagePack array of ids),
--       on_parent_failure, its block (1-based); then, for a flow's batch
--       (FlowProducer): flow id, its record (MessagePack [ids, names]), retention
-- Returns {} when stored, or {"unknown", job id, parent id} when a parent is neither
-- in the batch, nor stored where it was looked for, nor remembered there as
-- completed: then nothing is stored.
local now, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local located = cmsgpack.unpack(ARGV[3])
local F = 8

local function at(i, field) return ARGV[4 + (i - 1) * F + field] end

local K = block(1)
local function home(i) return block(tonumber(at(i, 7))) end  -- (one table per block)

local batch = {}  -- id -> the block of a job of the batch
for i = 1, n do batch[at(i, 0)] = home(i) end
local function where(i, parent)  -- the block holding a parent of job i
  return batch[parent] or (located[parent] and block(located[parent])) or home(i)
end

for i = 1, n do
  for _, parent in ipairs(cmsgpack.unpack(at(i, 5))) do
    local P = where(i, parent)
    if not batch[parent] and redis.call("HEXISTS", P[JOBS], parent) == 0
        and not redis.call("ZSCORE", P[DONE], parent) then
      return {"unknown", at(i, 0), parent}
    end
  end
end

local stored = {}
for i = 1, n do  -- a job already stored (a retried call whose reply was lost) is left alone
  if redis.call("HSETNX", home(i)[JOBS], at(i, 0), at(i, 1)) == 1 then stored[#stored + 1] = i end
end

local woken, ended = {}, {}  -- woken: block -> how many of its workers to wake
local function woke(C, count) woken[C] = (woken[C] or 0) + count end
for _, i in ipairs(stored) do
  local id, policy, C = at(i, 0), at(i, 6), home(i)
  local waiting, bad, bad_how = 0, nil, nil
  for _, parent in ipairs(cmsgpack.unpack(at(i, 5))) do
    local P = where(i, parent)
    local pm = load(P, parent, now)
    local state = pm and pm[STATE] or "completed"  -- (not stored: remembered as done)
    if state == "pending" or state == "active" or state == "waiting" then
      redis.call("ZADD", P[EDGES], 0, edge(P, parent, id, C))
      waiting = waiting + 1
    elseif state ~= "completed" and not bad and policy ~= "run" then
      bad, bad_how = parent, state
    end
  end
  local m, data = load(C, id, now)
  if bad then  -- (edges made above are left: parent_done() skips an ended child)
    ended[#ended + 1] = {id, end_by_parent(C, id, m, data, policy, bad, bad_how, now), C}
  elseif waiting > 0 then
    m[STATE] = "waiting"
    save(C, id, m, data)
    block_child(C, id, waiting, policy)
  elseif at(i, 4) == "r" then
    redis.call("ZADD", C[READY], at(i, 2), at(i, 3))
    woke(C, 1)
  else
    redis.call("ZADD", C[SCHEDULED], at(i, 2), at(i, 3))
    woken[C] = math.max(woken[C] or 0, 1)
  end
  if not bad and waiting == 0 and m and type(m[EXPIRES_AT]) == "number" then
    redis.call("ZADD", C[EXPIRING], m[EXPIRES_AT], id)  -- the expiry sweep's index
  end
end
woke(K, parents_ended(K, ended, now))  -- (other queues' released jobs woke their own)
for C, count in pairs(woken) do wake(C, count) end
local flow = ARGV[4 + n * F]
if flow then  -- the flow's record, with the jobs; flows older than the retention go
  redis.call("HSET", K[FLOWS], flow, ARGV[5 + n * F])
  redis.call("ZADD", K[FLOWS_AGE], now, flow)
  local old = redis.call("ZRANGEBYSCORE", K[FLOWS_AGE], "-inf",
    exclusive(now - tonumber(ARGV[6 + n * F])), "LIMIT", 0, SWEEP)
  if #old > 0 then
    redis.call("ZREM", K[FLOWS_AGE], unpack(old))
    redis.call("HDEL", K[FLOWS], unpack(old))
  end
end
return {}
