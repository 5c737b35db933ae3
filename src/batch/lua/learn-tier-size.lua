-- Record the size a host delivered for an aspect ratio at a resolution tier, keeping the smallest seen.
-- KEYS[1] the provider's tier-sizes hash. ARGV[1] `ratio@tier`, ARGV[2] width, ARGV[3] height.
-- Returns 1 when the entry was added or made smaller, else 0.
local current = redis.call('HGET', KEYS[1], ARGV[1])
local width = tonumber(ARGV[2])
local height = tonumber(ARGV[3])
if current then
  local w, h = string.match(current, '^(%d+)x(%d+)$')
  if w and tonumber(w) * tonumber(h) <= width * height then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], width .. 'x' .. height)
return 1
