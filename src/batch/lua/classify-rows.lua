-- Classify incoming rows of a batch before enqueuing them (reads only).
-- KEYS: rows, outcomes, stems. ARGV: row key, source, identity (stem, case folded), ... Returns per row '' (new), '=' (present, finished),
-- '~' (present, unfinished), the existing source (conflict), or '!' and the other row key whose identity (job id,
-- file names up to case) is the same: the row cannot be told apart from it.
local result = {}
for i = 1, #ARGV, 3 do
  local existing = redis.call('HGET', KEYS[1], ARGV[i])
  local owner = redis.call('HGET', KEYS[3], ARGV[i + 2])
  if owner and owner ~= ARGV[i] then result[#result + 1] = '!' .. owner
  elseif not existing then result[#result + 1] = ''
  elseif existing ~= ARGV[i + 1] then result[#result + 1] = existing
  elseif redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then result[#result + 1] = '='
  else result[#result + 1] = '~' end
end
return result
