-- Take the sending of one event of a batch (src/batch/notifications/notifier.ts): each event is sent once per batch,
-- by whichever process takes it first. KEYS: the batch's notifications hash. ARGV: the event type (its field), the
-- value to set (`sending|<ms now>|<body>`), ms now, the lease in ms. An event another process is sending is taken over
-- only when its lease ran out (that process died mid-delivery); a delivered or failed event never again.
-- Returns 1 when this caller sends it, else 0.
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local since = string.match(current, '^sending|(%d+)|')
  if not since or tonumber(since) > tonumber(ARGV[3]) - tonumber(ARGV[4]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
