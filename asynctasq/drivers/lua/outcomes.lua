-- outcomes: how jobs stand, for results (capability Results), read only like get but
-- for a corrupt record (dead-lettered, see bury() in _prelude.lua).
--
-- KEYS  one queue block
-- ARGV  [1] now (the client's clock)  [2..] job ids, of this queue or not
-- Returns {rows, remembered}: rows as get returns them for the jobs this queue stores
-- ([id, record, error, result, lease_until] each), then [id, result] for each
-- completed job it no longer stores but remembers in `done` (its result, if any, kept
-- beside it in `results` until the result retention ends).
local K = block(1)
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
local rows = fetch(K, ids, {}, tonumber(ARGV[1]))
local stored = {}
for i = 1, #rows, 5 do stored[rows[i]] = true end
local remembered = {}
for _, id in ipairs(ids) do
  if not stored[id] and redis.call("ZSCORE", K[DONE], id) then
    remembered[#remembered + 1] = id
    remembered[#remembered + 1] = redis.call("HGET", K[RESULTS], id)
  end
end
return {rows, remembered}
