-- Forget a failed outcome so the row can run again. KEYS: outcomes, stats, rows being collected (a stale entry there
-- would keep the row's new submission from being sent). ARGV: row key, error code.
-- Returns 1 when the row had failed (its counters go back to pending), else 0.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'failed' then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'failed', -1)
redis.call('HINCRBY', KEYS[2], 'failed_reason:' .. ARGV[2], -1)
return 1
