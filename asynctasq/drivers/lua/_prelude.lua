-- Shared by every script but the standalone ones (first line "--! standalone"):
-- asynctasq/drivers/redis/scripts.py prepends this file.
--
-- A queue's keys arrive as one block of NKEYS KEYS, in the order of QUEUE_KEYS in
-- asynctasq/drivers/keys.py (that module documents what each key holds). All keys
-- of a block share the queue's hash tag, so every script runs on Redis Cluster.
--
-- A job is one field of the `jobs` hash: its record is the MessagePack array "meta"
-- (the mutable fields, read and rewritten here) followed by "data" (immutable,
-- opaque bytes only Python reads). In meta `false` means "none": a Lua array cannot
-- hold nil. Times are epoch seconds from the client (its clock, which a test may
-- move by hand): no script reads the server's TIME.

local READY, SCHEDULED, ACTIVE, JOBS, ERRORS, RESULTS = 1, 2, 3, 4, 5, 6
local COMPLETED, FAILED, CANCELLED, UNIQUE, WAKE, PAUSED, AUDIT = 7, 8, 9, 10, 11, 12, 13
-- job dependencies (at the end of this file)
local EDGES, WAITS, DONE = 14, 15, 16
-- the expiry index of waiting jobs with a ttl (expire.lua sweeps it)
local EXPIRING = 17
-- flows (FlowProducer)
local FLOWS, FLOWS_AGE = 18, 19
-- the index of blocked jobs (the ids `waits` counts)
local BLOCKED = 20
local NKEYS = 20

local STATE, ATTEMPTS, MAX_ATTEMPTS, PRIORITY, RUN_AT = 1, 2, 3, 4, 5
local WORKER, FINISHED_AT, UNIQUE_KEY, CREATED_AT, PROGRESS = 6, 7, 8, 9, 10
-- appended only to the meta of a job with a ttl (docs/flow-control.md): a copy of
-- data's expires_at, for the claim to read
local EXPIRES_AT = 11

local WAKE_CAP = 16     -- keys.WAKE_CAP: idle workers one enqueue can wake
local SWEEP = 500       -- most expired jobs one call deletes: scripts stay short
local MAX_RUN_US = 9007199254740991  -- 2^53 - 1: exact in a double, 16 digits

-- the blocks of KEYS already read (by index), and of other queues built by
-- queue_block() (by name): one table per queue, so blocks compare by identity
local declared, built = {}, {}

local function block(i)
  if declared[i] then return declared[i] end
  local base, k = (i - 1) * NKEYS, {}
  for j = 1, NKEYS do k[j] = KEYS[base + j] end
  declared[i] = k
  return k
end

-- the name of a block's queue: its keys are "<prefix>:{<queue>}:<kind>" (neither a
-- prefix nor a queue name may hold a brace, keys.py)
local function queue_name(K)
  return string.match(K[JOBS], "{([^}]*)}")
end

-- The block of another queue, named by an edge (a job whose parent is in another
-- queue, possible on plain Redis only; docs/workflows.md): the one declared in
-- KEYS when the script's caller knew it (enqueue_dag), else built from K's names.
-- A settle cannot know ahead which queues hold the children of the jobs it ends;
-- plain Redis lets a script touch keys it did not declare, and on Redis Cluster,
-- which would not, the driver refuses such a dependency, so no edge names one.
local function queue_block(K, queue)
  local own = "{" .. queue_name(K) .. "}"
  local head = string.sub(K[JOBS], 1, string.find(K[JOBS], own, 1, true) - 1)
  local function key(j) return head .. "{" .. queue .. "}" .. string.sub(K[j], #head + #own + 1) end
  local jobs = key(JOBS)
  for i = 1, #KEYS / NKEYS do
    if KEYS[(i - 1) * NKEYS + JOBS] == jobs then return block(i) end
  end
  if not built[queue] then
    local k = {}
    for j = 1, NKEYS do k[j] = key(j) end
    built[queue] = k
  end
  return built[queue]
end

-- The member of a waiting job in ready/scheduled: "<16-digit run_at in
-- microseconds><id>", so equal priorities pop oldest run_at first. codec.run_key()
-- builds the same string in Python; tests/drivers/test_redis_scripts.py checks both.
local function run_entry(run_at, id)
  local us = math.floor(run_at * 1000000)
  if us < 0 then us = 0 elseif us > MAX_RUN_US then us = MAX_RUN_US end
  return string.format("%016d", us) .. id
end

local function entry_id(entry)
  return string.sub(entry, 17)
end

-- an exclusive score bound, exact (Lua's own number formatting keeps 14 digits)
local function exclusive(x)
  return "(" .. string.format("%.17g", x)
end

-- Records are read defensively: one may have been damaged at rest (a buggy tool, a
-- bad migration, a hostile writer), and cmsgpack raises on garbage, which would
-- abort a script halfway through a batch. decode() never raises: it checks the
-- shape and every field of meta (and that a data part follows) and returns the
-- meta and the data, or nil and the fault. A script that meets a corrupt record
-- dead-letters it with bury() and carries on with the rest of its work.

local STORED = {pending = true, active = true, completed = true, failed = true,
  cancelled = true, expired = true, waiting = true}  -- JobState values a record holds
local META_MIN, META_MAX = 10, 32  -- a newer version may append meta fields
local DATA_MIN, DATA_MAX = 5, 32   -- data: [task, payload, timeout, depends_on, expires_at]
local MAX_COUNT = 2147483647
local CORRUPT = "corrupt job record: "

-- the length of the MessagePack array at byte `at` of `s`, nil if none starts there
local function array_length(s, at)
  local b = string.byte(s, at)
  if not b then return nil end
  if b >= 0x90 and b <= 0x9f then return b - 0x90 end
  if b == 0xdc then
    local b1, b2 = string.byte(s, at + 1, at + 2)
    return b2 and b1 * 256 + b2
  elseif b == 0xdd then
    local b1, b2, b3, b4 = string.byte(s, at + 1, at + 4)
    return b4 and ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  end
  return nil
end

local function finite(x) return type(x) == "number" and x == x and x > -math.huge and x < math.huge end
local function count(x) return finite(x) and x >= 0 and x <= MAX_COUNT and x == math.floor(x) end
local function text_or_none(x) return x == false or type(x) == "string" end
local function time_or_none(x) return x == false or finite(x) end
local function fraction_or_none(x) return x == false or (finite(x) and x >= 0 and x <= 1) end
local function known_state(x) return type(x) == "string" and STORED[x] == true end

-- per meta field (in META_FIELDS order): its name, its check, what it must be
local META_CHECKS = {
  {"state", known_state, "a known state"},
  {"attempts", count, "a whole number from 0 to 2147483647"},
  {"max_attempts", count, "a whole number from 0 to 2147483647"},
  {"priority", finite, "a finite number"},
  {"run_at", finite, "a finite number"},
  {"worker_id", text_or_none, "a string or false"},
  {"finished_at", time_or_none, "a finite number or false"},
  {"unique_key", text_or_none, "a string or false"},
  {"created_at", finite, "a finite number"},
  {"progress", fraction_or_none, "a number from 0 to 1 or false"},
}

-- the common case, checked fast (it runs per job of a claim): the fields as enqueue
-- and the scripts write them; false does not mean corrupt, META_CHECKS decide then
local ltype, floor, huge = type, math.floor, math.huge
local function sound(m)
  local a, x, p, r, c = m[ATTEMPTS], m[MAX_ATTEMPTS], m[PRIORITY], m[RUN_AT], m[CREATED_AT]
  local w, u = m[WORKER], m[UNIQUE_KEY]
  return STORED[m[STATE]] == true
    and ltype(a) == "number" and a >= 0 and a <= MAX_COUNT and a == floor(a)
    and ltype(x) == "number" and x >= 0 and x <= MAX_COUNT and x == floor(x)
    and ltype(p) == "number" and p > -huge and p < huge
    and ltype(r) == "number" and r > -huge and r < huge
    and ltype(c) == "number" and c > -huge and c < huge
    and (w == false or ltype(w) == "string") and (u == false or ltype(u) == "string")
    and m[FINISHED_AT] == false and m[PROGRESS] == false
end

-- a short printable account of a bad value (never its raw bytes: they go to `errors`)
local function describe(x)
  if type(x) == "string" then
    local shown = string.gsub(string.sub(x, 1, 24), "[^%w%p ]", "?")
    if #x > 24 then shown = shown .. "..." end
    return string.format("the %d-byte string '%s'", #x, shown)
  elseif type(x) == "number" then
    return "the number " .. string.format("%.17g", x)
  elseif x == nil then
    return "nil"
  end
  return "a " .. type(x)
end

-- meta, data of a record; or nil, nil, fault (`record` false: "the record is missing")
local function decode(record)
  if not record then return nil, nil, "the record is missing" end
  if #record == 0 then return nil, nil, "the record is empty" end
  local n = array_length(record, 1)
  if not n then return nil, nil, "meta is not a msgpack array" end
  if n < META_MIN or n > META_MAX then
    return nil, nil, string.format("meta has %d fields, expected %d", n, META_MIN)
  end
  local ok, offset, m = pcall(cmsgpack.unpack_one, record)
  if not ok then
    return nil, nil, "meta is truncated or not valid msgpack (" .. tostring(offset) .. ")"
  end
  if ltype(m) ~= "table" then return nil, nil, "meta is not a msgpack array" end
  if not sound(m) then
    for i, check in ipairs(META_CHECKS) do
      if not check[2](m[i]) then
        return nil, nil, string.format("field %s is %s, not %s", check[1], describe(m[i]), check[3])
      end
    end
  end
  if offset < 0 then return nil, nil, "the data part is missing" end
  local data = string.sub(record, offset + 1)
  local d = array_length(data, 1)
  if not d or d < DATA_MIN or d > DATA_MAX then
    return nil, nil, "the data part is not a msgpack array of task, payload and options"
  end
  return m, data
end

local function join(m, data)
  return cmsgpack.pack(m) .. data
end

local function save(K, id, m, data)
  redis.call("HSET", K[JOBS], id, join(m, data))
end

-- a pending job goes to `ready` when due, else to `scheduled`; true if ready. One
-- with a ttl is (still) in the expiry index.
local function push_waiting(K, id, m, now)
  local entry = run_entry(m[RUN_AT], id)
  if type(m[EXPIRES_AT]) == "number" then
    redis.call("ZADD", K[EXPIRING], m[EXPIRES_AT], id)
  end
  if m[RUN_AT] <= now then
    redis.call("ZADD", K[READY], m[PRIORITY], entry)
    return true
  end
  redis.call("ZADD", K[SCHEDULED], m[RUN_AT], entry)
  return false
end

local function unlink_waiting(K, id, m)
  local entry = run_entry(m[RUN_AT], id)
  redis.call("ZREM", K[READY], entry)
  redis.call("ZREM", K[SCHEDULED], entry)
end

local function release_unique(K, m, id)
  local key = m[UNIQUE_KEY]
  if key and redis.call("HGET", K[UNIQUE], key) == id then
    redis.call("HDEL", K[UNIQUE], key)
  end
end

local function drop_records(K, ids)
  if #ids == 0 then return end
  redis.call("HDEL", K[JOBS], unpack(ids))
  redis.call("HDEL", K[ERRORS], unpack(ids))
  redis.call("HDEL", K[RESULTS], unpack(ids))
end

-- a MessagePack bin value (cmsgpack packs every Lua string as str, which Python
-- would read as text)
local function bin(s)
  local n = #s
  if n < 256 then return string.char(0xc4, n) .. s end
  if n < 65536 then return string.char(0xc5, math.floor(n / 256), n % 256) .. s end
  local b1, b2 = math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256
  return string.char(0xc6, b1, b2, math.floor(n / 256) % 256, n % 256) .. s
end

-- the fields of a corrupt record that pass their check (defaults for the rest), and
-- a data part: the old one if it looks like one, else one whose task is
-- UNREADABLE (records.UNREADABLE_TASK) and whose payload holds the bytes that
-- followed the old meta (the whole record when its meta is unreadable)
local UNREADABLE = "<unreadable>"
local function salvage(record, now)
  local m = {"failed", 0, 1, 0, now, false, now, false, now, false}
  local rest = record or ""
  local n = record and array_length(record, 1)
  local ok, offset, old = false, nil, nil
  if n and n <= META_MAX then ok, offset, old = pcall(cmsgpack.unpack_one, record) end
  if ok and type(old) == "table" then
    for i = 2, #META_CHECKS do
      if META_CHECKS[i][2](old[i]) then m[i] = old[i] end
    end
    rest = offset < 0 and "" or string.sub(record, offset + 1)
  end
  local d = array_length(rest, 1)
  if d and d >= DATA_MIN and d <= DATA_MAX then return m, rest end
  -- [task, payload, timeout = nil, depends_on = [], expires_at = nil]
  local nothing, none = string.char(0xc0), string.char(0x90)
  return m, string.char(0x95) .. cmsgpack.pack(UNREADABLE) .. bin(rest) .. nothing .. none .. nothing
end

-- dead-letter a corrupt record: a valid record (state failed, what survived of the
-- old one, the unreadable bytes kept for forensics; see salvage()), the reason in
-- `errors`; what it becomes passes decode(), so it is never buried twice. A set
-- entry of it that names an unreadable run_at cannot be found: a later read of it
-- meets a failed job and drops it.
local function bury(K, id, record, fault, now)
  local m, rest = salvage(record, now)
  unlink_waiting(K, id, m)
  for _, set in ipairs({ACTIVE, COMPLETED, CANCELLED}) do redis.call("ZREM", K[set], id) end
  release_unique(K, m, id)
  m[WORKER], m[FINISHED_AT] = false, now
  save(K, id, m, rest)
  redis.call("HSET", K[ERRORS], id, CORRUPT .. fault)
  redis.call("ZADD", K[FAILED], now, id)
end

-- meta, data of a job's stored record (nil when absent); a corrupt one is
-- dead-lettered and nil returned. `queued`: the id came from one of the queue's
-- sets, so a missing record is a fault as well (by id, it was merely deleted).
local function read(K, id, record, now, queued)
  local m, data, fault = decode(record)
  if fault and (record or queued) then
    if not record then fault = fault .. " (its id was still queued)" end
    bury(K, id, record, fault, now)
  end
  return m, data
end

local function load(K, id, now)
  return read(K, id, redis.call("HGET", K[JOBS], id), now, false)
end

-- tokens for idle workers blocked in BLPOP on the wake list (one per job, capped)
local function wake(K, n)
  if n <= 0 then return end
  local tokens = {}
  for i = 1, math.min(n, WAKE_CAP) do tokens[i] = "1" end
  redis.call("LPUSH", K[WAKE], unpack(tokens))
  redis.call("LTRIM", K[WAKE], 0, WAKE_CAP - 1)
end

-- move up to `max` due jobs from `scheduled` to `ready`; returns how many
local function promote(K, now, max)
  local due = redis.call("ZRANGEBYSCORE", K[SCHEDULED], "-inf", now, "LIMIT", 0, max)
  if #due == 0 then return 0 end
  local ids = {}
  for i, entry in ipairs(due) do ids[i] = entry_id(entry) end
  local records = redis.call("HMGET", K[JOBS], unpack(ids))
  local ready = {}
  for i, entry in ipairs(due) do
    local m = read(K, ids[i], records[i], now, true)
    if m then
      ready[#ready + 1] = m[PRIORITY]
      ready[#ready + 1] = entry
    end
  end
  if #ready > 0 then redis.call("ZADD", K[READY], unpack(ready)) end
  redis.call("ZREM", K[SCHEDULED], unpack(due))
  return #due
end

-- a finished job moves to one of the finished sets (completed, failed, cancelled)
local function finish(K, id, m, data, set, state, now)
  m[STATE], m[WORKER], m[FINISHED_AT] = state, false, now
  release_unique(K, m, id)
  save(K, id, m, data)
  redis.call("ZADD", K[set], now, id)
end

-- bound a finished set: drop members older than `ttl` seconds (0: keep) and the
-- oldest beyond `max` (negative: no cap), at most SWEEP per call
local function trim(K, set, now, ttl, max)
  local doomed = {}
  if ttl > 0 then
    doomed = redis.call("ZRANGEBYSCORE", K[set], "-inf", exclusive(now - ttl), "LIMIT", 0, SWEEP)
  end
  if max >= 0 and #doomed < SWEEP then
    local over = redis.call("ZCARD", K[set]) - #doomed - max
    if over > 0 then
      local oldest = redis.call("ZRANGE", K[set], #doomed, #doomed + math.min(over, SWEEP) - 1)
      for _, id in ipairs(oldest) do doomed[#doomed + 1] = id end
    end
  end
  if #doomed == 0 then return 0 end
  drop_records(K, doomed)
  redis.call("ZREM", K[set], unpack(doomed))
  return #doomed
end

-- appends [id, record, error, result, lease_until] per job found (false: absent);
-- a corrupt record is dead-lettered first, and reported as such
local function fetch(K, ids, out, now)
  if #ids == 0 then return out end
  local records = redis.call("HMGET", K[JOBS], unpack(ids))
  local errors = redis.call("HMGET", K[ERRORS], unpack(ids))
  local results = redis.call("HMGET", K[RESULTS], unpack(ids))
  for i, id in ipairs(ids) do
    if records[i] and not read(K, id, records[i], now, false) then
      records[i] = redis.call("HGET", K[JOBS], id)
      errors[i] = redis.call("HGET", K[ERRORS], id)
    end
    if records[i] then
      out[#out + 1] = id
      out[#out + 1] = records[i]
      out[#out + 1] = errors[i]
      out[#out + 1] = results[i]
      out[#out + 1] = redis.call("ZSCORE", K[ACTIVE], id)
    end
  end
  return out
end

-- The audit, a bounded consistency sweep (recover.lua runs it): one slice of the
-- jobs hash per call, at most one call per AUDIT_PERIOD per queue whichever worker
-- makes it. Each record is checked (a corrupt one is dead-lettered) and looked up
-- in the set its state names: a record no set holds would never run nor ever be
-- trimmed. A waiting or active one is dead-lettered; a finished one goes back into
-- its set. The `audit` key keeps "<HSCAN cursor> <time of the next slice>".
local AUDIT_COUNT, AUDIT_PERIOD = 100, 1.0
local FINISHED_SETS = {completed = COMPLETED, failed = FAILED, cancelled = CANCELLED}

local function indexed(K, id, m, now)
  local state = m[STATE]
  if state == "pending" then
    local entry = run_entry(m[RUN_AT], id)
    return redis.call("ZSCORE", K[READY], entry) or redis.call("ZSCORE", K[SCHEDULED], entry)
  elseif state == "active" then
    return redis.call("ZSCORE", K[ACTIVE], id)
  elseif FINISHED_SETS[state] then
    if not redis.call("ZSCORE", K[FINISHED_SETS[state]], id) then
      redis.call("ZADD", K[FINISHED_SETS[state]], m[FINISHED_AT] or now, id)
    end
  end
  return true  -- (a state no set holds yet, such as waiting: left alone)
end

local function audit(K, now)
  local saved = redis.call("GET", K[AUDIT])
  local cursor, due = "0", 0
  if saved then cursor, due = string.match(saved, "^(%d+) (%S+)$") end
  if not cursor then cursor, due = "0", 0 end  -- (a damaged audit key: start over)
  if now < tonumber(due) then return end
  local reply = redis.call("HSCAN", K[JOBS], cursor, "COUNT", AUDIT_COUNT)
  local found = reply[2]
  for i = 1, #found, 2 do
    local id, record = found[i], found[i + 1]
    local m = read(K, id, record, now, false)
    if m and not indexed(K, id, m, now) then
      bury(K, id, record, "the record is in no queue set (its " .. m[STATE]
        .. " entry was removed)", now)
    end
  end
  redis.call("SET", K[AUDIT], reply[1] .. " " .. string.format("%.17g", now + AUDIT_PERIOD))
end

-- -- job dependencies (workflows; asynctasq/drivers/dependencies.py has the rules) ------
-- A blocked job's record has state "waiting" and sits in no set; `waits` of its
-- queue counts its unfinished parents. The parent's queue's `edges` holds
-- "<parent>\0<child>" while the child waits on it, "<parent>\0<child>\0<queue>"
-- when the child is in another queue (plain Redis only: see queue_block()). A
-- parent's settle releases or ends its children in the same script, in whichever
-- queue they are.
local DONE_RETENTION, DONE_MAX = 86400, 1000000  -- dependencies.OUTCOME_RETENTION

-- the edge member linking `parent` (in block P) to `child` (in block C)
local function edge(P, parent, child, C)
  if C == P then return parent .. "\0" .. child end
  return parent .. "\0" .. child .. "\0" .. queue_name(C)
end

-- the children linked to `parent` (of K's queue), unlinked unless `keep`: their ids
-- and, in step, their blocks (two arrays, not a table per child: a fan-out parent has
-- thousands)
local function children_of(K, parent, keep)
  local lo, hi = "[" .. parent .. "\0", "(" .. parent .. "\1"
  local members = redis.call("ZRANGEBYLEX", K[EDGES], lo, hi)
  local blocks = {}
  if #members == 0 then return members, blocks end
  if not keep then redis.call("ZREMRANGEBYLEX", K[EDGES], lo, hi) end
  local skip, sub, find = #parent + 2, string.sub, string.find
  for i, member in ipairs(members) do
    local cut = find(member, "\0", skip, true)
    if cut then
      members[i], blocks[i] = sub(member, skip, cut - 1), queue_block(K, sub(member, cut + 1))
    else
      members[i], blocks[i] = sub(member, skip), K
    end
  end
  return members, blocks
end

-- redis.call(command, key, ...args), in calls of at most `step` arguments (unpack()
-- has a limit); `step` keeps pairs together when even
local function call_chunked(command, key, args, step)
  for i = 1, #args, step do
    redis.call(command, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

-- The `blocked` index holds the ids of the children `waits` counts, so a page of
-- blocked jobs is read by rank. Every script that adds or reads it first makes sure
-- it is complete: a queue whose blocked children an older version stored (without
-- the index) has it built here, once.
local indexed = {}  -- blocks whose index is known complete in this call
local function blocked_index(C)
  if indexed[C] then return end
  indexed[C] = true
  if redis.call("EXISTS", C[BLOCKED]) == 1 or redis.call("EXISTS", C[WAITS]) == 0 then return end
  local members = {}
  for _, field in ipairs(redis.call("HKEYS", C[WAITS])) do
    if string.sub(field, 1, 1) ~= "!" then
      members[#members + 1], members[#members + 2] = 0, field
    end
  end
  call_chunked("ZADD", C[BLOCKED], members, 1000)
end

-- a child of block C blocked by `count` unfinished parents, with its policy
local function block_child(C, id, count, policy)
  blocked_index(C)
  redis.call("HSET", C[WAITS], id, count)
  if policy ~= "fail" then redis.call("HSET", C[WAITS], "!" .. id, policy) end
  redis.call("ZADD", C[BLOCKED], 0, id)
end

-- children of block C no longer blocked: their counts, policies and index entries
local function unblock(C, ids)
  local fields = {}
  for i, id in ipairs(ids) do
    fields[2 * i - 1], fields[2 * i] = id, "!" .. id
  end
  call_chunked("HDEL", C[WAITS], fields, 1000)
  call_chunked("ZREM", C[BLOCKED], ids, 1000)
end

-- one parent of `child` (in block C) is done: released (pending) when it was the
-- last; 1 if so (the record is read only then: a fan-in child's record holds every
-- parent's id)
local function parent_done(C, child, now)
  local left = redis.call("HINCRBY", C[WAITS], child, -1)  -- one call on the hot path
  if left < 0 then  -- there was no count: the child ended meanwhile
    redis.call("HDEL", C[WAITS], child)
    return 0
  end
  if left > 0 then return 0 end
  unblock(C, {child})
  local m, data = load(C, child, now)
  if not m or m[STATE] ~= "waiting" then return 0 end
  m[STATE] = "pending"
  save(C, child, m, data)
  push_waiting(C, child, m, now)
  return 1
end

-- parent_done() seen from a script of K's queue: a child released in another queue
-- wakes that queue's workers now; one of K's is counted for the caller's wake(K)
local function release(K, C, child, now)
  local released = parent_done(C, child, now)
  if C == K then return released end
  wake(C, released)
  return 0
end

-- A blocked child's record as released (meta, record), its state rewritten in place:
-- "waiting" and "pending" are msgpack strings of the same length, so no other byte moves
-- and the rest of the record is neither decoded again nor re-encoded (a fan-out
-- parent's settle releases thousands). The checks are decode()'s; nil for any record
-- they do not pass at once (read() then decides, and dead-letters a corrupt one).
local WAITING_STATE, PENDING_STATE = "\167waiting", "\167pending"
local function released_record(record)
  if not record or string.sub(record, 2, 9) ~= WAITING_STATE then return nil end
  local n = array_length(record, 1)
  if not n or n < META_MIN or n > 15 then return nil end  -- (a one-byte array header)
  local ok, offset, m = pcall(cmsgpack.unpack_one, record)
  if not ok or ltype(m) ~= "table" or offset < 0 or not sound(m) then return nil end
  local d = array_length(record, offset + 1)
  if not d or d < DATA_MIN or d > DATA_MAX then return nil end
  m[STATE] = "pending"
  return m, string.sub(record, 1, 1) .. PENDING_STATE .. string.sub(record, 10)
end

-- parent_done() for many children of K whose last parent completed (their counts are
-- at 0), in a few calls for all of them rather than several for each: a fan-out
-- parent's settle releases thousands. How many were released.
local function release_freed(K, ids, now)
  if #ids == 0 then return 0 end
  local records = {}
  unblock(K, ids)
  for i = 1, #ids, 1000 do
    local got = redis.call("HMGET", K[JOBS], unpack(ids, i, math.min(i + 999, #ids)))
    for j, record in ipairs(got) do records[i + j - 1] = record end
  end
  local saved, ready, scheduled, expiring = {}, {}, {}, {}
  for i, id in ipairs(ids) do
    local m, record = released_record(records[i])
    if not m then  -- an odd record (or a corrupt one: dead-lettered) the long way
      local data
      m, data = read(K, id, records[i], now, false)
      if m and m[STATE] == "waiting" then
        m[STATE] = "pending"
        record = join(m, data)
      else
        m = nil
      end
    end
    if m then
      saved[#saved + 1], saved[#saved + 2] = id, record
      local entry = run_entry(m[RUN_AT], id)  -- as push_waiting() places it
      if type(m[EXPIRES_AT]) == "number" then
        expiring[#expiring + 1], expiring[#expiring + 2] = m[EXPIRES_AT], id
      end
      if m[RUN_AT] <= now then
        ready[#ready + 1], ready[#ready + 2] = m[PRIORITY], entry
      else
        scheduled[#scheduled + 1], scheduled[#scheduled + 2] = m[RUN_AT], entry
      end
    end
  end
  call_chunked("HSET", K[JOBS], saved, 1000)
  call_chunked("ZADD", K[EXPIRING], expiring, 1000)
  call_chunked("ZADD", K[READY], ready, 1000)
  call_chunked("ZADD", K[SCHEDULED], scheduled, 1000)
  return #saved / 2
end

-- completed parents (of K's queue): their children move on; how many of K's were
-- released. `peeked` (optional): parent -> {children, blocks} already read by
-- release_cost(). The children of K's queue lose one parent per edge read: their counts are
-- read and written a thousand at a time (not one HINCRBY each: a fan-out parent has
-- thousands), and those freed are released together at the end.
local function parents_completed(K, ids, now, peeked)
  local released, lost, order = 0, {}, {}
  if #ids == 0 or redis.call("EXISTS", K[EDGES]) == 0 then return 0 end
  for _, parent in ipairs(ids) do
    local children, blocks = nil, nil
    if peeked and peeked[parent] then  -- read already (release_cost()): now unlinked
      children, blocks = peeked[parent][1], peeked[parent][2]
      redis.call("ZREMRANGEBYLEX", K[EDGES], "[" .. parent .. "\0", "(" .. parent .. "\1")
    else
      children, blocks = children_of(K, parent)
    end
    for i, child in ipairs(children) do
      local C = blocks[i]
      if C ~= K then
        released = released + release(K, C, child, now)
      elseif lost[child] then
        lost[child] = lost[child] + 1
      else
        lost[child], order[#order + 1] = 1, child
      end
    end
  end
  local freed, counts = {}, {}
  for i = 1, #order, 1000 do
    local last = math.min(i + 999, #order)
    local got = redis.call("HMGET", K[WAITS], unpack(order, i, last))
    for j = 1, last - i + 1 do
      local child = order[i + j - 1]
      local left = got[j] and tonumber(got[j]) - lost[child]
      if left and left <= 0 then  -- (no count: the child ended meanwhile)
        freed[#freed + 1] = child
      elseif left then
        counts[#counts + 1], counts[#counts + 2] = child, left
      end
    end
  end
  call_chunked("HSET", K[WAITS], counts, 1000)
  return released + release_freed(K, freed, now)
end

-- What completing `parent` would release, in children: one for each child it would
-- free (its record read, rewritten and queued), a quarter for each that only loses a
-- parent (its count goes down); a child in another queue counts as freed. `lost`: how
-- many parents each child of K's has lost to the completions counted before (see
-- settle.lua). Also its children and their blocks, for parents_completed().
local function release_cost(K, parent, lost)
  local children, blocks = children_of(K, parent, true)
  local same = {}
  for i, child in ipairs(children) do
    if blocks[i] == K then same[#same + 1] = child end
  end
  local freed = #children - #same
  for i = 1, #same, 1000 do
    local last = math.min(i + 999, #same)
    local counts = redis.call("HMGET", K[WAITS], unpack(same, i, last))
    for j = 1, last - i + 1 do
      local left = tonumber(counts[j])
      if left and left - (lost[same[i + j - 1]] or 0) <= 1 then freed = freed + 1 end
    end
  end
  return freed + (#children - freed) / 4, children, blocks, same
end

-- deleted completed jobs, remembered for children dispatched later and for result
-- waiters (their results in `results`), bounded: the forgotten lose their results
local function remember_done(K, ids, now)
  if #ids == 0 then return end
  local args = {}
  for _, id in ipairs(ids) do
    args[#args + 1] = now
    args[#args + 1] = id
  end
  redis.call("ZADD", K[DONE], unpack(args))
  local old = redis.call("ZRANGEBYSCORE", K[DONE], "-inf", exclusive(now - DONE_RETENTION),
    "LIMIT", 0, SWEEP)
  local over = redis.call("ZCARD", K[DONE]) - #old - DONE_MAX
  if over > 0 then
    local oldest = redis.call("ZRANGE", K[DONE], #old, #old + math.min(over, SWEEP) - 1)
    for _, id in ipairs(oldest) do old[#old + 1] = id end
  end
  if #old > 0 then
    redis.call("ZREM", K[DONE], unpack(old))
    redis.call("HDEL", K[RESULTS], unpack(old))
  end
end

-- end a blocked (or new) job of block C by its policy after `parent` ended `how`
local function end_by_parent(C, id, m, data, policy, parent, how, now)
  unblock(C, {id})
  local state = policy == "cancel" and "cancelled" or "failed"
  finish(C, id, m, data, policy == "cancel" and CANCELLED or FAILED, state, now)
  redis.call("HSET", C[ERRORS], id, "ParentFailed: parent job " .. parent .. " ended "
    .. how .. "; this job did not run")
  return state
end

-- parents that ended badly ({id, how[, block]}: failed, cancelled, expired,
-- removed; the block defaults to K's): each blocked child follows its policy, down
-- the DAG and across queues; how many of K's were released ("run")
local function parents_ended(K, ended, now)
  local released, i = 0, 1
  while i <= #ended do
    local parent, how, P = ended[i][1], ended[i][2], ended[i][3] or K
    i = i + 1
    local children, blocks = children_of(P, parent)
    for j, child in ipairs(children) do
      local C = blocks[j]
      local m, data = nil, nil
      if redis.call("HEXISTS", C[WAITS], child) == 1 then m, data = load(C, child, now) end
      if m and m[STATE] == "waiting" then
        local policy = redis.call("HGET", C[WAITS], "!" .. child) or "fail"
        if policy == "run" then
          released = released + release(K, C, child, now)
        else
          ended[#ended + 1] = {child, end_by_parent(C, child, m, data, policy, parent, how, now), C}
        end
      end
    end
  end
  return released
end
