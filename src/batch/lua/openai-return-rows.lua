-- Put some rows of a Batch API group back on their waiting list (batch/openai-batch-records.ts): rows the admission
-- held back (paused batch, budget cap) while the group was being built.
-- KEYS: waiting list (of the group's operation), the group's rows hash. ARGV: row keys. Returns how many went back.
local moved = 0
for _, rowKey in ipairs(ARGV) do
  local item = redis.call('HGET', KEYS[2], rowKey)
  if item then
    redis.call('RPUSH', KEYS[1], item)
    redis.call('HDEL', KEYS[2], rowKey)
    moved = moved + 1
  end
end
return moved
