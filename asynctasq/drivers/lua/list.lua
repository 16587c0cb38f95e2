-- list: a page of a queue's jobs. Waiting jobs come in reservation order (pending,
-- then scheduled by run_at, then active by lease expiry); finished ones newest
-- first. Moves due scheduled jobs to ready first, so pending is complete.
--
-- KEYS  one queue block
-- ARGV  [1] state ("" for every state)  [2] now  [3] offset  [4] limit
-- Returns [id, record, error, result, lease_until] per job.
local K = block(1)
local state, now = ARGV[1], tonumber(ARGV[2])
local offset, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
promote(K, now, 1000)

-- each source: how many it holds, and how to read a slice [start, start + n)
-- (`entries`: members are run keys + ids, as in ready and scheduled)
local function ranked(set, reversed, entries)
  return {
    entries = entries,
    count = function() return redis.call("ZCARD", K[set]) end,
    slice = function(start, n)
      local command = reversed and "ZREVRANGE" or "ZRANGE"
      return redis.call(command, K[set], start, start + n - 1)
    end,
  }
end
local future = {
  entries = true,
  count = function() return redis.call("ZCOUNT", K[SCHEDULED], exclusive(now), "+inf") end,
  slice = function(start, n)
    return redis.call("ZRANGEBYSCORE", K[SCHEDULED], exclusive(now), "+inf", "LIMIT", start, n)
  end,
}
-- completed, failed and cancelled together, newest first
local finished = {
  count = function()
    return redis.call("ZCARD", K[COMPLETED]) + redis.call("ZCARD", K[FAILED])
      + redis.call("ZCARD", K[CANCELLED])
  end,
  slice = function(start, n)
    local merged = {}
    for _, set in ipairs({COMPLETED, FAILED, CANCELLED}) do
      local part = redis.call("ZREVRANGE", K[set], 0, start + n - 1, "WITHSCORES")
      for j = 1, #part, 2 do merged[#merged + 1] = {tonumber(part[j + 1]), part[j]} end
    end
    table.sort(merged, function(a, b)
      if a[1] ~= b[1] then return a[1] > b[1] end
      return a[2] < b[2]
    end)
    local page = {}
    for j = start + 1, math.min(start + n, #merged) do page[#page + 1] = merged[j][2] end
    return page
  end,
}

-- blocked jobs (dependencies): the children `waits` counts, by id (their index)
local blocked = {
  count = function()
    blocked_index(K)
    return redis.call("ZCARD", K[BLOCKED])
  end,
  slice = function(start, n) return redis.call("ZRANGE", K[BLOCKED], start, start + n - 1) end,
}

local sources = ({
  pending = {ranked(READY, false, true)},
  scheduled = {future},
  active = {ranked(ACTIVE, false)},
  completed = {ranked(COMPLETED, true)},
  failed = {ranked(FAILED, true)},
  cancelled = {ranked(CANCELLED, true)},
  blocked = {blocked},
  [""] = {ranked(READY, false, true), future, blocked, ranked(ACTIVE, false), finished},
})[state] or {}

local ids = {}
for _, source in ipairs(sources) do
  if #ids >= limit then break end
  local count = source.count()
  if offset >= count then
    offset = offset - count
  else
    for _, member in ipairs(source.slice(offset, limit - #ids)) do
      ids[#ids + 1] = source.entries and entry_id(member) or member
    end
    offset = 0
  end
end
return fetch(K, ids, {}, now)
