-- Extend a running run's lease, only while it still holds its slot: a lease that ended (the run
-- finished, was refunded) or expired (its worker stopped renewing it) stays ended, even if no
-- admission has swept it out of the set yet. A worker back from a pause gets no slot back.
-- KEYS: 1 run leases
-- ARGV: 1 now (ms), 2 new expiry (ms), 3 run id
-- Returns 1 if renewed, 0 if the lease had ended.
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not expiry or tonumber(expiry) <= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]), ARGV[3])
return 1
