-- fetch.lua: pop up to N messages across the given lists (in order: priority 0 lists first, as kombu's
-- BRPOP key order) and record each in kombu's ack emulation (unacked + unacked_index) atomically, so a
-- crash between pop and bookkeeping cannot lose a message.
-- KEYS[1]  unacked        hash  delivery_tag -> JSON [envelope, exchange, routing_key] (kombu format)
-- KEYS[2]  unacked_index  zset  delivery_tag scored by claim time (epoch seconds)
-- KEYS[3..] queue lists, in the order to serve them
-- ARGV[1]  max messages to pop (>= 1)
-- ARGV[2]  now, epoch seconds (float)
-- Returns a flat array {key_index, raw, key_index, raw, ...}; key_index is the 1-based index into
-- KEYS[3..], negated when the raw item is not a kombu envelope (dropped, not recorded; the caller logs it).
local remaining = tonumber(ARGV[1])
local now = ARGV[2]
local out = {}
local hset = {}
local zadd = {}
for k = 3, #KEYS do
  if remaining <= 0 then break end
  local items = redis.call('RPOP', KEYS[k], remaining)
  if items then
    for _, raw in ipairs(items) do
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
        out[#out + 1] = k - 2
      else
        out[#out + 1] = -(k - 2)
      end
      out[#out + 1] = raw
      remaining = remaining - 1
    end
  end
end
if #hset > 0 then
  redis.call('HSET', KEYS[1], unpack(hset))
  redis.call('ZADD', KEYS[2], unpack(zadd))
end
return out
