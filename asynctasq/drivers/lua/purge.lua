-- purge: delete one window of a queue's jobs in one state. The driver calls it
-- until a window comes back short, so no single call blocks Redis for long.
--
-- KEYS  one queue block
-- ARGV  [1] state: pending, scheduled, completed, failed or cancelled
--       [2] now  [3] older_than (finished_at, else created_at, before it) or ""
--       [4] window size  [5] offset of the window (jobs kept by older_than earlier)
-- Returns [deleted, scanned].
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
if #members == 0 then return {0, 0} end

local waiting = set == READY or set == SCHEDULED
local ids = {}
for i, member in ipairs(members) do ids[i] = waiting and entry_id(member) or member end
local records = redis.call("HMGET", K[JOBS], unpack(ids))
local doomed, entries = {}, {}
for i, id in ipairs(ids) do
  local m = records[i] and meta_of(records[i])
  if not m then
    entries[#entries + 1] = members[i]  -- an entry without a job: drop it too
  elseif not waiting or not older_than or m[CREATED_AT] < older_than then
    if waiting then release_unique(K, m, id) end
    doomed[#doomed + 1] = id
    entries[#entries + 1] = members[i]
  end
end
if #entries > 0 then redis.call("ZREM", K[set], unpack(entries)) end
drop_records(K, doomed)
return {#doomed, #members}
