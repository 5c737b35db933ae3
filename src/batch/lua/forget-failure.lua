-- Forget a failed outcome so the row can run again. KEYS: the row's bucket of the row index, stats, rows being
-- collected (a stale entry there would keep the row's new submission from being sent). ARGV: row key, error code, the
-- row's identity (its field in the bucket, batch/row-index.ts).
-- Returns 1 when the row had failed (its record goes back to not finished, its counters to pending), else 0.
local record = redis.call('HGET', KEYS[1], ARGV[3])
if not record or string.sub(record, 1, 1) ~= 'f' then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], '-' .. string.sub(record, 2))
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'failed', -1)
redis.call('HINCRBY', KEYS[2], 'failed_reason:' .. ARGV[2], -1)
return 1
