-- Restore a tenant's enforcement state from its durable records, after the store lost it:
-- only if the tenant has no tier in the store (another process may have restored it first,
-- and admitted since). The tier is written last: until it is there, no admission counts.
-- KEYS: 1 tenant tier, 2 quota counter of the period, 3 run leases (zset),
--       4.. admission record of each run admitted and not yet billed
-- ARGV: 1 tier, 2 units used this period (billed, plus the runs of KEYS[4..]),
--       3 quota counter ttl (s), 4 lease expiry (epoch ms), 5 admission record ttl (s),
--       6.. the run id of each KEYS[4..]
-- Returns 1 if restored, 0 if the tenant was already in the store.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
for i = 4, #KEYS do
  redis.call('ZADD', KEYS[3], tonumber(ARGV[4]), ARGV[i + 2])
  redis.call('SET', KEYS[i], ARGV[1] .. ':' .. ARGV[2], 'EX', tonumber(ARGV[5]))
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
