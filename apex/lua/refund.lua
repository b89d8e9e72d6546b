-- Undo an admission whose work could not be done (billing failed, the run failed before any
-- charge): the quota units come back and the slot is freed. Only once per admission.
-- KEYS: 1 quota counter of the period, 2 run leases, 3 admission record
-- ARGV: 1 request id, 2 units
-- Returns 1 if refunded, 0 if there was no admission to refund.
if redis.call('DEL', KEYS[3]) == 0 then
  return 0
end
redis.call('DECRBY', KEYS[1], tonumber(ARGV[2]))
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
