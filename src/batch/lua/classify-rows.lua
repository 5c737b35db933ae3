-- Classify incoming rows of a batch before enqueuing them (reads only).
-- KEYS: row index, outcomes. ARGV: row key, source reference (`<manifest number>:<line>`), identity (stem, case
-- folded), ... The row index maps an identity to `<reference>` or `<reference>|<row key>` (batch/row-index.ts).
-- Returns per row '' (new), '=' (present, finished), '~' (present, unfinished), the existing reference (conflict), or
-- '!' and the other row key whose identity (job id, file names up to case) is the same: the row cannot be told apart.
local result = {}
for i = 1, #ARGV, 3 do
  local entry = redis.call('HGET', KEYS[1], ARGV[i + 2])
  if not entry then
    result[#result + 1] = ''
  else
    local bar = string.find(entry, '|', 1, true)
    local reference = bar and string.sub(entry, 1, bar - 1) or entry
    local owner = bar and string.sub(entry, bar + 1) or ARGV[i + 2]
    if owner ~= ARGV[i] then result[#result + 1] = '!' .. owner
    elseif reference ~= ARGV[i + 1] then result[#result + 1] = reference
    elseif redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then result[#result + 1] = '='
    else result[#result + 1] = '~' end
  end
end
return result
