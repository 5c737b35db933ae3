-- Claim the parked requests of one provider that are due for a status poll (batch/parked-requests.ts), earliest due
-- first, and lease them: each claimed entry is pushed back by the lease, so no other poller takes it meanwhile; the
-- claiming poller then reschedules (ZADD XX LT), finishes or drops it.
-- KEYS: the due-time sorted set, the requests hash. ARGV: now (ms), most entries, lease (ms).
-- Returns a flat list: saved request JSON, due time (ms), saved request JSON, due time, ...
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local result = {}
local leasedUntil = tonumber(ARGV[1]) + tonumber(ARGV[3])
for index = 1, #due, 2 do
  local jobId = due[index]
  local saved = redis.call('HGET', KEYS[2], jobId)
  if saved then
    redis.call('ZADD', KEYS[1], leasedUntil, jobId)
    result[#result + 1] = saved
    result[#result + 1] = due[index + 1]
  else
    redis.call('ZREM', KEYS[1], jobId)
  end
end
return result
