-- Put rows on a Batch API waiting list once (batch/openai-batch-records.ts): a row already placed (waiting, in a
-- group, or settled) is not added again, so enqueuing the same manifest twice, or after a crash, adds nothing.
-- KEYS: placed set, waiting list of generate, waiting list of edit, active set.
-- ARGV: batch id, then per row: row key, operation, job data JSON. Returns how many rows were added.
local added = 0
for i = 2, #ARGV, 3 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    local list = ARGV[i + 1] == 'edit' and KEYS[3] or KEYS[2]
    redis.call('RPUSH', list, ARGV[i + 2])
    added = added + 1
  end
end
if added > 0 then redis.call('SADD', KEYS[4], ARGV[1]) end
return added
