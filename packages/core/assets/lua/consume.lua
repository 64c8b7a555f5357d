--[[
  Fixed-window rate limit: check the counter, then increment it when within
  the limit (the seed's GET, then INCR + EXPIRE), atomically.

  KEYS[1]  counter key, e.g. rate_limit:webhook:repo_1296269
  ARGV[1]  limit (integer): requests allowed per window
  ARGV[2]  window length in seconds
  ARGV[3]  1 to increment when allowed, 0 to only read

  Returns { allowed (1|0), count after this call, ttl seconds of the window }
]]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then ttl = window end
if count >= limit then
  return { 0, count, ttl }
end
if ARGV[3] == '1' then
  count = redis.call('INCR', KEYS[1])
  if count == 1 then
    redis.call('EXPIRE', KEYS[1], window)
    ttl = window
  end
end
return { 1, count, ttl }
