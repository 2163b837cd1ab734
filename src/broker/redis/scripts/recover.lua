-- recover.lua: give back what consumers hold in their in-flight lists. A consumer's BLMOVE moves a
-- message into its in-flight list and the fetch.lua sent right behind it claims it at once, so a
-- non-empty list means its consumer died between the two (or its fetch failed). Run by any consumer
-- about once a second, and by one at a time (a lock of ARGV[3] ms). Recovering a living consumer's list
-- is harmless: its fetch.lua then finds the list empty and pops the message from the queue instead.
-- Preceded by inflight-common.lua.
-- KEYS[1]  celeriac.inflight       hash    in-flight list key -> <armed at, epoch ms> " " <source list key>
-- KEYS[2]  celeriac.inflight_lock  string  held while one consumer's run counts for all
-- ARGV[1]  forget registry entries last armed before this time (epoch ms): consumers long gone
-- ARGV[2]  lock time, ms
-- Returns the number of messages moved back, or -1 when another consumer ran it within the lock time.
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return -1 end
local entries = redis.call('HGETALL', KEYS[1])
local forget = tonumber(ARGV[1])
local moved = 0
for i = 1, #entries, 2 do
  local n, armed = give_back(entries[i], entries[i + 1])
  moved = moved + n
  if armed < forget then redis.call('HDEL', KEYS[1], entries[i]) end
end
return moved
