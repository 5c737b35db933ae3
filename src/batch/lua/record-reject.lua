-- Note a rejected row once. KEYS: rejects, meta. ARGV: the reject's key (manifest:line:code). Returns 1 the first time.
local added = redis.call('HSETNX', KEYS[1], ARGV[1], '1')
if added == 1 then redis.call('HINCRBY', KEYS[2], 'rows_rejected', 1) end
return added
