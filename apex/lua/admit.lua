-- One atomic admission decision for a request of a tenant (one Redis round trip).
-- KEYS: 1 tenant tier, 2 quota counter of the period, 3 run leases (zset), 4 admission record,
--       5 tier limits hash
-- ARGV: 1 now (epoch ms), 2 lease duration (ms), 3 request id, 4 units,
--       5 admission record ttl (s), 6 quota counter ttl (s)
-- Returns {status, tier, used, limit, running, max_running}; status is one of
-- admitted | duplicate | quota | concurrency | unknown_tenant | unknown_tier.
local now = tonumber(ARGV[1])
local units = tonumber(ARGV[4])

local prior = redis.call('GET', KEYS[4])
if prior then
  local tier, used = string.match(prior, '^([^:]+):(-?%d+)$')
  return {'duplicate', tier, tonumber(used), 0, 0, 0}
end

local tier = redis.call('GET', KEYS[1])
if not tier then
  return {'unknown_tenant', '', 0, 0, 0, 0}
end
local limits = redis.call('HGET', KEYS[5], tier)
if not limits then
  return {'unknown_tier', tier, 0, 0, 0, 0}
end
local limit, max_running = string.match(limits, '^(-?%d+):(%d+)$')
limit = tonumber(limit)
max_running = tonumber(max_running)

-- A lease that was not renewed belongs to a dead worker: its slot is free again.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local running = redis.call('ZCARD', KEYS[3])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')

if limit >= 0 and used + units > limit then
  return {'quota', tier, used, limit, running, max_running}
end
if running >= max_running then
  return {'concurrency', tier, used, limit, running, max_running}
end

used = redis.call('INCRBY', KEYS[2], units)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[3])
redis.call('SET', KEYS[4], tier .. ':' .. used, 'EX', tonumber(ARGV[5]))
return {'admitted', tier, used, limit, running + 1, max_running}
