-- Give a row's reservation back (the call was not made, or not billed). KEYS: budget, reservations. ARGV: row key.
local reserved = redis.call('HGET', KEYS[2], ARGV[1])
if not reserved then return 0 end
redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', -tonumber(reserved))
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
