-- release.lua: a consumer that stops gives back whatever its in-flight lists still hold and leaves the
-- registry. Preceded by inflight-common.lua.
-- KEYS[1]   celeriac.inflight  hash  in-flight list key -> <armed at, epoch ms> " " <source list key>
-- KEYS[2..] the consumer's in-flight lists
-- Returns the number of messages moved back.
local moved = 0
for k = 2, #KEYS do
  moved = moved + give_back(KEYS[k], redis.call('HGET', KEYS[1], KEYS[k]))
  redis.call('HDEL', KEYS[1], KEYS[k])
end
return moved
