-- Classify incoming rows of a batch before enqueuing them (reads only).
-- KEYS: rows, outcomes. ARGV: row key, source, ... Returns per row '' (new), '=' (present, finished),
-- '~' (present, unfinished) or the existing source (conflict).
local result = {}
for i = 1, #ARGV, 2 do
  local existing = redis.call('HGET', KEYS[1], ARGV[i])
  if not existing then result[#result + 1] = ''
  elseif existing ~= ARGV[i + 1] then result[#result + 1] = existing
  elseif redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then result[#result + 1] = '='
  else result[#result + 1] = '~' end
end
return result
