-- list_from: a page of one state's jobs from just after a position, in list.lua's
-- order for that state (or backwards). A position is the (score, member) of a sorted
-- set entry (blocked jobs: "0" and the id), so a page a million jobs deep is found by
-- rank in O(log n), never by walking an offset. Moves due scheduled jobs to ready
-- first, so pending is complete.
--
-- KEYS  one queue block
-- ARGV  [1] state  [2] now  [3] "1": backwards  [4] score ("" from the start)
--       [5] member  [6] limit
-- Returns {marks, rows}: rows as fetch() gives them ([id, record, error, result,
-- lease_until] per job), marks the [score, member] of each of those jobs, in order.
local K = block(1)
local state, now = ARGV[1], tonumber(ARGV[2])
local backwards, score, member = ARGV[3] == "1", ARGV[4], ARGV[5]
local limit = tonumber(ARGV[6])
promote(K, now, 1000)

-- the sets read newest first (list.lua reads them with ZREVRANGE)
local NEWEST_FIRST = {completed = true, failed = true, cancelled = true}
local SETS = {
  pending = READY, scheduled = SCHEDULED, active = ACTIVE,
  completed = COMPLETED, failed = FAILED, cancelled = CANCELLED,
}

local picked, marks = {}, {}

local function pick(id, at, entry)
  picked[#picked + 1] = id
  marks[id] = {at, entry}
end

if SETS[state] then
  local key = K[SETS[state]]
  local descending = (NEWEST_FIRST[state] or false) ~= backwards
  local function rank(entry)
    if descending then return redis.call("ZREVRANK", key, entry) end
    return redis.call("ZRANK", key, entry)
  end
  -- the ranks (in the reading direction) the state's entries hold: scheduled holds
  -- only those still in the future (a due one not yet promoted is pending)
  local first, last = 0, redis.call("ZCARD", key) - 1
  if state == "scheduled" then
    local due = redis.call("ZCOUNT", key, "-inf", ARGV[2])
    if descending then last = last - due else first = due end
  end
  local start = first
  if score ~= "" then
    -- the rank just after (score, member): where the entry is, or would be. One not
    -- in the set (claimed or finished meanwhile) is added for the time of the look-up
    -- and taken out again, inside this script: nobody else ever sees it.
    local added = redis.call("ZADD", key, "NX", score, member)
    local at = rank(member)
    if added == 1 then
      redis.call("ZREM", key, member)
    else
      at = at + 1
    end
    if at > start then start = at end
  end
  local stop = math.min(last, start + limit - 1)
  if stop >= start then
    local command = descending and "ZREVRANGE" or "ZRANGE"
    local found = redis.call(command, key, start, stop, "WITHSCORES")
    for j = 1, #found, 2 do
      local entry = found[j]
      local id = (state == "pending" or state == "scheduled") and entry_id(entry) or entry
      pick(id, found[j + 1], entry)
    end
  end
elseif state == "blocked" then
  -- the children `waits` counts, by id (as list.lua orders them): their index, read
  -- from just after the position's id
  blocked_index(K)
  local ids
  if score == "" then
    ids = redis.call(backwards and "ZREVRANGE" or "ZRANGE", K[BLOCKED], 0, limit - 1)
  elseif backwards then
    ids = redis.call("ZREVRANGEBYLEX", K[BLOCKED], "(" .. member, "-", "LIMIT", 0, limit)
  else
    ids = redis.call("ZRANGEBYLEX", K[BLOCKED], "(" .. member, "+", "LIMIT", 0, limit)
  end
  for _, id in ipairs(ids) do pick(id, "0", id) end
end

local rows = fetch(K, picked, {}, now)
local positions = {}
for j = 1, #rows, 5 do
  local mark = marks[rows[j]]
  positions[#positions + 1] = mark[1]
  positions[#positions + 1] = mark[2]
end
return {positions, rows}
