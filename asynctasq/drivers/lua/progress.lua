-- progress: record the progress (0..1) of an active job, for its holder only.
--
-- KEYS  one queue block
-- ARGV  [1] job id  [2] worker id  [3] progress  [4] now (dates a corrupt record's burial)
-- Returns 1 if recorded.
local K = block(1)
local id = ARGV[1]
local m, data = load(K, id, tonumber(ARGV[4]))
if not m or m[STATE] ~= "active" or m[WORKER] ~= ARGV[2] then return 0 end
m[PROGRESS] = tonumber(ARGV[3])
save(K, id, m, data)
return 1
