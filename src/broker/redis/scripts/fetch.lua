-- fetch.lua: take up to N messages and claim each atomically with its pop, so a crash between the two
-- cannot lose a message: first what this consumer's BLMOVE moved into its in-flight list (run right
-- after the BLMOVE, on the same connection), then pops across the given lists in order (priority 0
-- lists first, kombu's BRPOP key order). Every claim goes to Celeriac's own pair, kombu envelopes and
-- compact messages alike, recording the list the message came from; kombu's unacked hash is left to
-- Python workers (see docs/brokers.md, "Visibility timeout").
-- KEYS[1]  celeriac.unacked        hash  delivery_tag -> <list key> "\0" <message>
-- KEYS[2]  celeriac.unacked_index  zset  delivery_tag scored by claim time (epoch seconds)
-- KEYS[3]  the consumer's in-flight list (celeriac.inflight:<consumer>:<n>), filled from KEYS[3 + ARGV[3]]
-- KEYS[4..] queue lists, in the order to serve them
-- ARGV[1]  max messages to take (>= 1)
-- ARGV[2]  now, epoch seconds (float)
-- ARGV[3]  1-based index into KEYS[4..] of the in-flight list's source
-- Returns a flat array {key_index, raw, tag, redeliveries, key_index, raw, tag, redeliveries, ...};
-- key_index is the 1-based index into KEYS[4..], negated when the raw item is neither format (dropped,
-- not claimed; the caller logs it); tag is the delivery tag it was claimed under ("" when not claimed),
-- so a message the caller cannot decode is un-claimed by exactly this tag (cjson and JSON.parse
-- disagree on hostile input); redeliveries is how often requeue.lua, restore-own.lua and restore.lua
-- gave it back (celeriac.redeliveries.<tag>, 0 when never), so the worker can stop a poison message.

-- A compact message's tag is the 12 bytes after its marker. JavaScript sees characters, so a tag that
-- is not ASCII is claimed under its hex spelling, which both sides compute alike (compactTag()).
local function compact_tag(raw)
  local tag = string.sub(raw, 2, 13)
  if not string.find(tag, '[\128-\255]') then return tag end
  return (string.gsub(tag, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
-- The tag of a kombu envelope as our encoder and kombu write it (properties last, delivery_info
-- {exchange, routing_key} then scalars, delivery_tag last), read with string.find/match instead of a
-- cjson.decode of the whole envelope. Taken only when "delivery_tag" occurs once and sits in the same
-- last top-level object as the delivery_info matched; anything else (a restored envelope, escapes,
-- another key order) goes through cjson.decode. The second value says whether the envelope may be
-- marked redelivered: never on the fast path (its delivery_info holds exchange and routing_key only),
-- always assumed on the other (a restored envelope takes it; its counter is looked up).
local function kombu_tag(raw)
  local at = string.find(raw, '"delivery_tag"', 1, true)
  if at and not string.find(raw, '"delivery_tag"', at + 14, true) then
    local di = string.find(raw, '"delivery_info"', 1, true)
    local tag = di and string.match(raw, '^"delivery_info": ?{"exchange": ?"[^"\\]*", ?"routing_key": ?"[^"\\]*"}[^{}]*"delivery_tag": ?"([^"\\]+)"}}$', di)
    if tag then return tag, false end
  end
  local ok, env = pcall(cjson.decode, raw)
  local props = ok and type(env) == 'table' and env['properties']
  local tag = type(props) == 'table' and props['delivery_tag']
  if type(tag) == 'string' and tag ~= '' then return tag, true end
  return nil, false
end

local remaining = tonumber(ARGV[1])
local now = ARGV[2]
local source = tonumber(ARGV[3])
local out = {}
local hset, zadd = {}, {}
-- Where each redelivered item's count goes in `out`, and the counter it is read from (one MGET).
local counted, counters = {}, {}
for k = 3, #KEYS do
  if remaining <= 0 then break end
  local index = k == 3 and source or k - 3
  local items = redis.call('RPOP', KEYS[k], remaining)
  if items then
    for _, raw in ipairs(items) do
      local first = string.byte(raw, 1)
      local tag, marked
      -- A marked item is never a kombu claim: JavaScript reads it as compact (a short one is unclaimed).
      if first == 1 or first == 2 then
        if #raw > 13 then tag = compact_tag(raw) end
        marked = first == 2
      else
        tag, marked = kombu_tag(raw)
      end
      if tag then
        hset[#hset + 1] = tag
        hset[#hset + 1] = KEYS[3 + index] .. '\0' .. raw
        zadd[#zadd + 1] = now
        zadd[#zadd + 1] = tag
      end
      out[#out + 1] = tag and index or -index
      out[#out + 1] = raw
      out[#out + 1] = tag or ''
      out[#out + 1] = 0
      -- Only a message marked redelivered can have a counter (every script that counts marks it too):
      -- first deliveries, nearly all of them, cost no lookup.
      if tag and marked then
        counted[#counted + 1] = #out
        counters[#counters + 1] = 'celeriac.redeliveries.' .. tag
      end
      remaining = remaining - 1
    end
  end
end
if #hset > 0 then
  redis.call('HSET', KEYS[1], unpack(hset))
  redis.call('ZADD', KEYS[2], unpack(zadd))
end
if #counters > 0 then
  local counts = redis.call('MGET', unpack(counters))
  for i, at in ipairs(counted) do out[at] = tonumber(counts[i]) or 0 end
end
return out
