-- Put rows on a Batch API waiting list once (batch/openai-batch-records.ts): a row already placed (waiting, in a
-- group, or settled) is not added again, so enqueuing the same manifest twice, or after a crash, adds nothing.
-- KEYS (the batch's slot): placed set, waiting list of generate, waiting list of edit.
-- ARGV: per row: row key, operation, job data JSON. Returns how many rows were added. The caller lists the batch as
-- active before (that set is in another slot).
local added = 0
for i = 1, #ARGV, 3 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    local list = ARGV[i + 1] == 'edit' and KEYS[3] or KEYS[2]
    redis.call('RPUSH', list, ARGV[i + 2])
    added = added + 1
  end
end
return added
