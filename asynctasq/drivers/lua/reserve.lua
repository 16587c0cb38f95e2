-- reserve: claim up to `limit` due jobs across queues, lowest priority value first,
-- then oldest run_at, moving due scheduled jobs to ready first. Paused queues are
-- skipped. On Redis Cluster the queues of one call share a slot (the driver groups
-- them; see redis/claim.py).
--
-- KEYS  one block per queue (see _prelude.lua)
-- ARGV  [1] now  [2] limit  [3] worker id
--       [4] lease seconds  [5] most promotions per queue
--       [6..] per queue, the most jobs to take from it (the cap of a two-phase claim)
-- Returns [next_due, lease_until, (queue_index, id, record, error)...] in claim order
-- (across queues too); next_due is the earliest run_at of a scheduled job (a string)
-- when nothing was claimed, else "".
local now = tonumber(ARGV[1])
local limit, worker = tonumber(ARGV[2]), ARGV[3]
local lease_until, promote_max = now + tonumber(ARGV[4]), tonumber(ARGV[5])
local nqueues = #KEYS / NKEYS
local EXPIRED_PREFIX = "expired: not started before its ttl ran out at "  -- expiry.py

local live = {}
for i = 1, nqueues do
  local K = block(i)
  local cap = math.min(limit, tonumber(ARGV[5 + i]))
  if cap > 0 and redis.call("EXISTS", K[PAUSED]) == 0 then
    promote(K, now, promote_max)
    live[#live + 1] = {index = i, K = K, cap = cap, take = 0}
  end
end

local merged = {}  -- across queues: the index in `live` of each job taken, in order
if #live == 1 then
  live[1].take = live[1].cap
elseif #live > 1 then
  -- merge the heads of the ready sets: (priority, run key) decides across queues
  local heads, pos = {}, {}
  for j, q in ipairs(live) do
    heads[j] = redis.call("ZRANGE", q.K[READY], 0, q.cap - 1, "WITHSCORES")
    pos[j] = 1
  end
  for _ = 1, limit do
    local best, best_score, best_entry = nil, nil, nil
    for j = 1, #live do
      local h = heads[j]
      if pos[j] <= #h then
        local entry, score = h[pos[j]], tonumber(h[pos[j] + 1])
        if best == nil or score < best_score or (score == best_score and entry < best_entry) then
          best, best_score, best_entry = j, score, entry
        end
      end
    end
    if best == nil then break end
    pos[best] = pos[best] + 2
    live[best].take = live[best].take + 1
    merged[#merged + 1] = best
  end
end

local out = {"", string.format("%.17g", lease_until)}
for _, q in ipairs(live) do
  q.slots = {}  -- per job popped: {id, record, error}, or false when not claimed
  local popped = q.take > 0 and redis.call("ZPOPMIN", q.K[READY], q.take) or {}
  if #popped > 0 then
    local K, ids = q.K, {}
    for j = 1, #popped, 2 do ids[#ids + 1] = entry_id(popped[j]) end
    local records = redis.call("HMGET", K[JOBS], unpack(ids))
    local errors = redis.call("HMGET", K[ERRORS], unpack(ids))
    local updated, leases, expired = {}, {}, {}
    for j, id in ipairs(ids) do
      -- a corrupt record is dead-lettered here; the rest of the batch is served
      local m, data = read(K, id, records[j], now, true)
      local ttl_end = m and m[EXPIRES_AT]
      if m and m[STATE] == "pending" and type(ttl_end) == "number" and ttl_end <= now then
        -- its ttl ran out: expired, never handed out (expired jobs sit with failed)
        finish(K, id, m, data, FAILED, "expired", now)
        redis.call("HSET", K[ERRORS], id, EXPIRED_PREFIX .. string.format("%.6f", ttl_end))
        expired[#expired + 1] = {id, "expired"}
        q.slots[j] = false  -- never nil: ipairs() below stops at the first hole
      elseif m and m[STATE] == "pending" then
        m[STATE], m[ATTEMPTS], m[WORKER] = "active", m[ATTEMPTS] + 1, worker
        local record = join(m, data)
        updated[#updated + 1] = id
        updated[#updated + 1] = record
        leases[#leases + 1] = lease_until
        leases[#leases + 1] = id
        q.slots[j] = {id, record, errors[j]}
      else
        q.slots[j] = false
      end
    end
    if #updated > 0 then
      redis.call("HSET", K[JOBS], unpack(updated))
      redis.call("ZADD", K[ACTIVE], unpack(leases))
    end
    if #expired > 0 then  -- their dependants follow their policy, as after any bad end
      wake(K, parents_ended(K, expired, now))
    end
  end
end

local function emit(q, slot)
  if slot then
    out[#out + 1] = q.index
    out[#out + 1] = slot[1]
    out[#out + 1] = slot[2]
    out[#out + 1] = slot[3]
  end
end
if #live == 1 then
  for _, slot in ipairs(live[1].slots) do emit(live[1], slot) end
else
  local next_slot = {}
  for _, j in ipairs(merged) do
    next_slot[j] = (next_slot[j] or 0) + 1
    emit(live[j], live[j].slots[next_slot[j]])
  end
end

if #out == 2 then
  local due = nil
  for _, q in ipairs(live) do
    local head = redis.call("ZRANGE", q.K[SCHEDULED], 0, 0, "WITHSCORES")
    if head[2] and (due == nil or tonumber(head[2]) < tonumber(due)) then due = head[2] end
  end
  out[1] = due or ""
end
return out
