-- dead-letter.lua: move a message a consumer gives up (reject with a reason) to its queue's dead
-- letters in one step: forget its claim and its redelivery counter, as an ack does, and push the
-- dead-letter entry (a redrive starts its count afresh), keeping the
-- newest ARGV[3]. Atomic, so a crash can neither lose the message nor leave it both claimed and buried.
-- KEYS[1]  celeriac.unacked        hash  where fetch.lua claimed it (every Celeriac claim, either format)
-- KEYS[2]  celeriac.unacked_index  zset
-- KEYS[3]  celeriac.dead-letter.<queue>  list, newest first; entry = <meta JSON> "\n" <message as received>
-- ARGV[1]  delivery tag of the claim to forget ("" for an item that was never claimed)
-- ARGV[2]  the entry
-- ARGV[3]  entries kept at most (>= 1)
-- Returns the number of dead letters of the queue after the push.
if ARGV[1] ~= '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('DEL', 'celeriac.redeliveries.' .. ARGV[1])
end
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
return redis.call('LLEN', KEYS[3])
