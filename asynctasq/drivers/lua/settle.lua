-- settle: apply a batch of outcomes of one queue's jobs. Each is fenced: applied
-- only while the job is active under the same worker and attempt, so a worker whose
-- lease lapsed and was taken over cannot complete, retry, fail or release the job.
-- Applying the same outcome twice is refused the second time (idempotent).
--
-- KEYS  one queue block
-- ARGV  [1] now  [2] keep completed (1/0)  [3] completed_ttl  [4] dead_letter_ttl
--       [5] dead_letter_max
--       [6] MessagePack array of [kind, id, worker, attempt, value, error]:
--           kind C (complete; value = result or nil), R (retry; value = run_at),
--           F (fail: dead-letter), L (release: back to pending, attempt not counted;
--           value = run_at or nil)
--       [7] result retention (seconds; a deleted completed job's id and result are
--           kept that long)  [8] the pub/sub channel told when jobs end (results)
--       [9] optional: the most children this call may release, as release_cost()
--           counts them (Driver.settle_bounded)
-- Returns one 1/0 per outcome, in order; with [9], 2 for a completion left for a later
-- call (not applied: its children would take the call past the bound; the first
-- completion with children is always applied). Such a parent is still active and its
-- children still blocked: a parent and their release stay one step.
local K = block(1)
local now, keep = tonumber(ARGV[1]), ARGV[2] == "1"
local completed_ttl, dl_ttl, dl_max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local batch = cmsgpack.unpack(ARGV[6])
DONE_RETENTION = tonumber(ARGV[7]) or DONE_RETENTION

-- the bound: one script blocks the whole server, and a worker whose parents all ended
-- has nothing to run until their children are released
local budget = tonumber(ARGV[9])
local bounded = budget ~= nil and redis.call("EXISTS", K[EDGES]) == 1
local releasing, lost, peeked, full = 0, {}, {}, false

local ids = {}
for i, o in ipairs(batch) do ids[i] = o[2] end
local records = redis.call("HMGET", K[JOBS], unpack(ids))

local accepted, settled, gone, unleased, done, ended = {}, {}, {}, {}, {}, {}
local gone_results = {}
local woken, failed, kept = 0, false, false
for i, o in ipairs(batch) do
  local kind, id = o[1], o[2]
  local m, data = nil, nil
  if records[i] and not settled[id] then
    m, data = read(K, id, records[i], now, false)  -- a corrupt one: dead-lettered, refused
    if not m then settled[id] = true end
  end
  local fenced_out = not m or m[STATE] ~= "active" or m[WORKER] ~= o[3] or m[ATTEMPTS] ~= o[4]
  local cost, children, blocks, same = 0, nil, nil, nil
  if bounded and not fenced_out and kind == "C" then
    if full then  -- (no cost read again for every completion left: a count will do)
      cost = redis.call("ZLEXCOUNT", K[EDGES], "[" .. id .. "\0", "(" .. id .. "\1")
    else
      cost, children, blocks, same = release_cost(K, id, lost)
    end
  end
  if fenced_out then
    accepted[i] = 0
  elseif cost > 0 and releasing > 0 and (full or releasing + cost > budget) then
    accepted[i] = 2  -- for a later call
    full = true
  else
    if children then
      releasing = releasing + cost
      peeked[id] = {children, blocks}
      for _, child in ipairs(same) do lost[child] = (lost[child] or 0) + 1 end
    end
    accepted[i] = 1
    settled[id] = true
    unleased[#unleased + 1] = id
    if kind == "C" then
      done[#done + 1] = id
      if keep then
        finish(K, id, m, data, COMPLETED, "completed", now)
        if o[5] then redis.call("HSET", K[RESULTS], id, o[5]) end
        kept = true
      else
        release_unique(K, m, id)
        gone[#gone + 1] = id
        if o[5] then gone_results[#gone_results + 1] = id; gone_results[#gone_results + 1] = o[5] end
      end
    elseif kind == "F" then
      finish(K, id, m, data, FAILED, "failed", now)
      redis.call("HSET", K[ERRORS], id, o[6])
      failed = true
      ended[#ended + 1] = {id, "failed"}
    else
      m[STATE], m[WORKER] = "pending", false
      if kind == "R" then
        m[RUN_AT] = finite(o[5]) and o[5] or now  -- (a NaN score would abort the batch)
        redis.call("HSET", K[ERRORS], id, o[6])
      else -- L: released (shutdown: due now; rate limit: at value), attempt not counted
        m[RUN_AT] = (o[5] and finite(o[5])) and o[5] or now
        m[ATTEMPTS] = math.max(m[ATTEMPTS] - 1, 0)
      end
      save(K, id, m, data)
      -- a ready job wakes a worker; a scheduled one wakes one to re-time its wait
      if push_waiting(K, id, m, now) then woken = woken + 1 else woken = math.max(woken, 1) end
    end
  end
end

if #unleased > 0 then redis.call("ZREM", K[ACTIVE], unpack(unleased)) end
drop_records(K, gone)
-- dependencies: the children of these parents move on in this same script
woken = woken + parents_completed(K, done, now, peeked)
if not keep then
  remember_done(K, gone, now)
  -- results of deleted completed jobs (Results): forgotten with their ids
  if #gone_results > 0 then redis.call("HSET", K[RESULTS], unpack(gone_results)) end
end
if #ended > 0 and redis.call("EXISTS", K[EDGES]) == 1 then
  woken = woken + parents_ended(K, ended, now)
  trim(K, CANCELLED, now, dl_ttl, dl_max)
end
wake(K, woken)
if (#done > 0 or #ended > 0) and ARGV[8] then redis.call("PUBLISH", ARGV[8], K[JOBS]) end
if kept then trim(K, COMPLETED, now, completed_ttl, -1) end
if failed then trim(K, FAILED, now, dl_ttl, dl_max) end
return accepted
