-- Put every row of a Batch API group back on its waiting list and forget the group (batch/openai-batch-records.ts).
-- KEYS: waiting list (of the group's operation), groups hash, the group's rows hash. ARGV: group id.
-- Returns how many rows went back.
local rows = redis.call('HVALS', KEYS[3])
for _, item in ipairs(rows) do redis.call('RPUSH', KEYS[1], item) end
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[2], ARGV[1])
return #rows
