-- Move a routed row from one holder to another (batch/row-hosts.ts): only from the holder named, so two movers can
-- never both win. KEYS[1] the batch's hosts hash. ARGV[1] row key, ARGV[2] the expected holder ('' for a row no host
-- has held yet, '*' for any), ARGV[3] the new holder.
-- Returns 1 when moved, 0 when another holder has the row.
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] ~= '*' and (current or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
