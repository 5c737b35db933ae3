-- Take up to ARGV[3] rows from a Batch API waiting list into a group (batch/openai-batch-records.ts), in one step.
-- KEYS: waiting list (of the group's operation), groups hash, the group's rows hash.
-- ARGV: group id, group JSON (its `rows` is set here), most rows to take. Returns the rows taken (job data JSON).
local taken = redis.call('LPOP', KEYS[1], tonumber(ARGV[3]))
if not taken then return {} end
for _, item in ipairs(taken) do
  redis.call('HSET', KEYS[3], cjson.decode(item).rowKey, item)
end
local group = cjson.decode(ARGV[2])
group.rows = redis.call('HLEN', KEYS[3])
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(group))
return taken
