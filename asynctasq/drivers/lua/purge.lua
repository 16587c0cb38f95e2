-- purge: delete one window of a queue's jobs in one state. The driver calls it
-- until a window comes back short, so no single call blocks Redis for long.
--
-- KEYS  one queue block
-- ARGV  [1] state: pending, scheduled, completed, failed or cancelled
--       [2] now  [3] older_than (finished_at, else created_at, before it) or ""
--       [4] window size  [5] offset of the window (jobs kept by older_than earlier)
-- Returns [deleted, scanned, dead-lettered] (a corrupt waiting record is
-- dead-lettered, not deleted: see bury() in _prelude.lua).
local K = block(1)
local state, now, older_than = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local size, offset = tonumber(ARGV[4]), tonumber(ARGV[5])

local set, members
if state == "pending" then
  promote(K, now, size)
  set = READY
  members = redis.call("ZRANGE", K[READY], offset, offset + size - 1)
elseif state == "scheduled" then
  set = SCHEDULED
  members = redis.call("ZRANGEBYSCORE", K[SCHEDULED], exclusive(now), "+inf", "LIMIT", offset, size)
else
  set = ({completed = COMPLETED, failed = FAILED, cancelled = CANCELLED})[state]
  if older_than then
    members = redis.call("ZRANGEBYSCORE", K[set], "-inf", exclusive(older_than), "LIMIT", 0, size)
  else
    members = redis.call("ZRANGE", K[set], 0, size - 1)
  end
end
if #members == 0 then return {0, 0, 0} end

local waiting = set == READY or set == SCHEDULED
local ids = {}
for i, member in ipairs(members) do ids[i] = waiting and entry_id(member) or member end
local records = redis.call("HMGET", K[JOBS], unpack(ids))
local doomed, entries, buried = {}, {}, 0
for i, id in ipairs(ids) do
  if not waiting then  -- finished: the set's score is enough, the record is not read
    doomed[#doomed + 1] = id
    entries[#entries + 1] = members[i]
  elseif not records[i] then
    entries[#entries + 1] = members[i]  -- an entry without a job: drop it too
  else
    local m = read(K, id, records[i], now, false)  -- a corrupt one: dead-lettered
    if not m then
      buried = buried + 1
      entries[#entries + 1] = members[i]
    elseif not older_than or m[CREATED_AT] < older_than then
      release_unique(K, m, id)
      doomed[#doomed + 1] = id
      entries[#entries + 1] = members[i]
    end
  end
end
if #entries > 0 then redis.call("ZREM", K[set], unpack(entries)) end
drop_records(K, doomed)
if waiting and #doomed > 0 and redis.call("EXISTS", K[EDGES]) == 1 then
  local ended = {}  -- their dependants end as if they had failed
  for i, id in ipairs(doomed) do ended[i] = {id, "removed"} end
  wake(K, parents_ended(K, ended, now))
end
return {#doomed, #members, buried}
