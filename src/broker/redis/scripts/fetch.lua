-- fetch.lua: pop up to N messages across the given lists (in order: priority 0 lists first, as kombu's
-- BRPOP key order) and claim each atomically, so a crash between pop and bookkeeping cannot lose a
-- message: kombu envelopes in kombu's ack emulation (unacked + unacked_index, shared with Python
-- workers), compact messages (first byte \1 or \2, tag in bytes 2-13) in our own pair, which no
-- Python worker's restore ever reads.
-- KEYS[1]  unacked                 hash  delivery_tag -> JSON [envelope, exchange, routing_key] (kombu format)
-- KEYS[2]  unacked_index           zset  delivery_tag scored by claim time (epoch seconds)
-- KEYS[3]  celeriac.unacked        hash  delivery_tag -> <list key> "\0" <compact message>
-- KEYS[4]  celeriac.unacked_index  zset  delivery_tag scored by claim time (epoch seconds)
-- KEYS[5..] queue lists, in the order to serve them
-- ARGV[1]  max messages to pop (>= 1)
-- ARGV[2]  now, epoch seconds (float)
-- Returns a flat array {key_index, raw, tag, key_index, raw, tag, ...}; key_index is the 1-based index
-- into KEYS[5..], negated when the raw item is neither format (dropped, not recorded; the caller logs
-- it); tag is the delivery tag it was claimed under ("" when not claimed), so a message the caller
-- cannot decode is un-claimed by exactly this tag (cjson and JSON.parse disagree on hostile input).
-- The claim of a kombu envelope as our encoder and kombu write it (properties last, delivery_info
-- {exchange, routing_key} then scalars, delivery_tag last): tag, exchange and routing key (the last two
-- as JSON string literals) read with string.find/match instead of a cjson.decode of the whole envelope.
-- Taken only when "delivery_tag" occurs once and sits in the same last top-level object as the
-- delivery_info matched; anything else (a restored envelope, escapes, another key order) returns nil
-- and goes through cjson.decode.
local function fast_claim(raw)
  local at = string.find(raw, '"delivery_tag"', 1, true)
  if not at or string.find(raw, '"delivery_tag"', at + 14, true) then return nil end
  local di = string.find(raw, '"delivery_info"', 1, true)
  if not di then return nil end
  return string.match(raw, '^"delivery_info": ?{"exchange": ?("[^"\\]*"), ?"routing_key": ?("[^"\\]*")}[^{}]*"delivery_tag": ?"([^"\\]+)"}}$', di)
end
local remaining = tonumber(ARGV[1])
local now = ARGV[2]
local out = {}
local hset, zadd, chset, czadd = {}, {}, {}, {}
for k = 5, #KEYS do
  if remaining <= 0 then break end
  local items = redis.call('RPOP', KEYS[k], remaining)
  if items then
    for _, raw in ipairs(items) do
      local first = string.byte(raw, 1)
      local claimed = false -- the claimed tag, once claimed
      -- The tag is bytes 2-13, which JavaScript reads as characters: only an ASCII tag (ours are
      -- base64url) is the same string on both sides; any other is left unclaimed, so no ack misses it.
      if (first == 1 or first == 2) and #raw > 13 and not string.find(string.sub(raw, 2, 13), '[\128-\255]') then
        chset[#chset + 1] = string.sub(raw, 2, 13)
        chset[#chset + 1] = KEYS[k] .. '\0' .. raw
        czadd[#czadd + 1] = now
        czadd[#czadd + 1] = string.sub(raw, 2, 13)
        claimed = string.sub(raw, 2, 13)
      elseif first ~= 1 and first ~= 2 then -- a marked item is never a kombu claim: JS reads it as compact
        local ex_json, rk_json, fast_tag = fast_claim(raw)
        if fast_tag then
          hset[#hset + 1] = fast_tag
          hset[#hset + 1] = '[' .. raw .. ', ' .. ex_json .. ', ' .. rk_json .. ']'
          zadd[#zadd + 1] = now
          zadd[#zadd + 1] = fast_tag
          claimed = fast_tag
        else
          local ok, env = pcall(cjson.decode, raw)
          local props = ok and type(env) == 'table' and env['properties']
          local tag = type(props) == 'table' and props['delivery_tag']
          if type(tag) == 'string' and tag ~= '' then
            local info = type(props['delivery_info']) == 'table' and props['delivery_info'] or {}
            local ex = type(info['exchange']) == 'string' and info['exchange'] or ''
            local rk = type(info['routing_key']) == 'string' and info['routing_key'] or ''
            hset[#hset + 1] = tag
            hset[#hset + 1] = '[' .. raw .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']'
            zadd[#zadd + 1] = now
            zadd[#zadd + 1] = tag
            claimed = tag
          end
        end
      end
      out[#out + 1] = claimed and (k - 4) or -(k - 4)
      out[#out + 1] = raw
      out[#out + 1] = claimed or ''
      remaining = remaining - 1
    end
  end
end
if #hset > 0 then
  redis.call('HSET', KEYS[1], unpack(hset))
  redis.call('ZADD', KEYS[2], unpack(zadd))
end
if #chset > 0 then
  redis.call('HSET', KEYS[3], unpack(chset))
  redis.call('ZADD', KEYS[4], unpack(czadd))
end
return out
