package redis

import (
	"strings"

	"github.com/redis/rueidis"
)

// sessionFields are the fields of a session hash, in the order HMGET asks
// for them and decodeSession reads them. Times are Unix milliseconds;
// hashes are lower-case hex; rh is empty for a cookie session; v is a
// version bumped by every write, which UpdateSession compares and swaps.
var sessionFields = []string{
	"th", // token hash
	"u",  // user ID
	"c",  // created at
	"a",  // auth time
	"l",  // last seen at
	"ie", // idle expires at
	"e",  // expires at
	"ip",
	"ua",
	"rh", // refresh hash
	"rg", // refresh generation
	"rr", // refresh rotated at
	"v",  // version
}

// Indexes into sessionFields.
const (
	fTokenHash = iota
	fUserID
	fCreatedAt
	fAuthTime
	fLastSeenAt
	fIdleExpiresAt
	fExpiresAt
	fIP
	fUserAgent
	fRefreshHash
	fRefreshGen
	fRefreshRotatedAt
	fVersion
	nFields
)

// luaFieldList is sessionFields as Lua string literals, for HMGET in
// scripts.
var luaFieldList = "'" + strings.Join(sessionFields, "', '") + "'"

// sessionPrelude starts every session script. ARGV[1] is the key prefix
// and ARGV[2] ttlGrace in milliseconds; the script's own arguments
// follow.
//
// expire sets the TTL of a session's keys from the time it dies (dead, in
// ms): dead + grace if that is still ahead by Redis's clock, else no TTL
// (see the package doc). The user's set lives as long as its
// longest-lived session: GT only ever pushes its expiry later, and a set
// holding a session without a TTL gets none either.
//
// remove deletes a session and its index entries, returning its fields
// (as HMGET gives them) or nil when the session does not exist.
const sessionPrelude = `
local P = ARGV[1]
local GRACE = tonumber(ARGV[2])
local function expire(id, th, uid, dead)
  local sk, tk, uk = P .. 's:' .. id, P .. 't:' .. th, P .. 'u:' .. uid
  local at = dead + GRACE
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if at > now then
    local a = string.format('%.0f', at)
    redis.call('PEXPIREAT', sk, a)
    redis.call('PEXPIREAT', tk, a)
    if redis.call('PTTL', uk) == -1 then
      if redis.call('ZCARD', uk) == 1 then
        redis.call('PEXPIREAT', uk, a)
      end
    else
      redis.call('PEXPIREAT', uk, a, 'GT')
    end
  else
    redis.call('PERSIST', sk)
    redis.call('PERSIST', tk)
    redis.call('PERSIST', uk)
  end
end
local function remove(id)
  local sk = P .. 's:' .. id
  local f = redis.call('HMGET', sk, ` + "FIELDS" + `)
  if not f[1] then
    return nil
  end
  redis.call('DEL', sk, P .. 't:' .. f[1])
  redis.call('ZREM', P .. 'u:' .. f[2], id)
  redis.call('ZREM', P .. 'exp', id)
  return f
end
`

// sessionScript returns a session script that writes: the prelude, then
// body.
func sessionScript(body string) *rueidis.Lua {
	return rueidis.NewLuaScript(strings.ReplaceAll(sessionPrelude+body, "FIELDS", luaFieldList))
}

// readScript returns a read-only session script. It skips the prelude,
// whose functions it does not need, to save the server their creation on
// the hot path; ARGV[1] is still the prefix and ARGV[2] unused.
func readScript(body string) *rueidis.Lua {
	return rueidis.NewLuaScriptReadOnly(strings.ReplaceAll("local P = ARGV[1]\n"+body, "FIELDS", luaFieldList))
}

// Results of createScript and updateScript.
const (
	resOK           = 0
	resIDTaken      = 1
	resTokenTaken   = 2
	resMissing      = 3
	resVersionMoved = 4
)

// createScript inserts a session unless its ID or token hash is taken.
// ARGV[3..7]: id, token hash (hex), user ID, created at, dead at; then
// field/value pairs for HSET.
var createScript = sessionScript(`
local id, th, uid = ARGV[3], ARGV[4], ARGV[5]
local sk, tk = P .. 's:' .. id, P .. 't:' .. th
if redis.call('EXISTS', sk) == 1 then
  return 1
end
if redis.call('EXISTS', tk) == 1 then
  return 2
end
redis.call('HSET', sk, unpack(ARGV, 8))
redis.call('SET', tk, id)
redis.call('ZADD', P .. 'u:' .. uid, ARGV[6], id)
redis.call('ZADD', P .. 'exp', ARGV[7], id)
expire(id, th, uid, tonumber(ARGV[7]))
return 0
`)

// updateScript writes a session if its version is still the one read
// (compare-and-swap), moving the token index if the hash changed.
// ARGV[3..8]: id, expected version, token hash (hex), user ID, created
// at, dead at; then field/value pairs for HSET (without v).
var updateScript = sessionScript(`
local id, th, uid = ARGV[3], ARGV[5], ARGV[6]
local sk = P .. 's:' .. id
local cur = redis.call('HMGET', sk, 'v', 'th')
if not cur[1] then
  return 3
end
if cur[1] ~= ARGV[4] then
  return 4
end
if cur[2] ~= th then
  local tk = P .. 't:' .. th
  local owner = redis.call('GET', tk)
  if owner and owner ~= id then
    return 2
  end
  redis.call('DEL', P .. 't:' .. cur[2])
  redis.call('SET', tk, id)
end
redis.call('HSET', sk, unpack(ARGV, 9))
redis.call('HINCRBY', sk, 'v', 1)
redis.call('ZADD', P .. 'u:' .. uid, ARGV[7], id)
redis.call('ZADD', P .. 'exp', ARGV[8], id)
expire(id, th, uid, tonumber(ARGV[8]))
return 0
`)

// touchScript records a use. ARGV[3..6]: id, last seen at, idle expires
// at, IP. It returns 0 when the session is missing.
var touchScript = sessionScript(`
local id = ARGV[3]
local sk = P .. 's:' .. id
local cur = redis.call('HMGET', sk, 'th', 'u', 'e')
if not cur[1] then
  return 0
end
redis.call('HSET', sk, 'l', ARGV[4], 'ie', ARGV[5], 'ip', ARGV[6])
redis.call('HINCRBY', sk, 'v', 1)
local dead = ARGV[5]
if tonumber(cur[3]) < tonumber(dead) then
  dead = cur[3]
end
redis.call('ZADD', P .. 'exp', dead, id)
expire(id, cur[1], cur[2], tonumber(dead))
return 1
`)

// byTokenScript looks a session up by token hash in one round trip.
// ARGV[3]: token hash (hex). It returns {id, fields} or nil.
var byTokenScript = readScript(`
local id = redis.call('GET', P .. 't:' .. ARGV[3])
if not id then
  return nil
end
local f = redis.call('HMGET', P .. 's:' .. id, FIELDS)
if not f[1] then
  return nil
end
return {id, f}
`)

// listScript returns a user's sessions as {id, fields} pairs, skipping
// IDs whose session Redis has already expired. ARGV[3]: user ID.
var listScript = readScript(`
local out = {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'u:' .. ARGV[3], 0, -1)) do
  local f = redis.call('HMGET', P .. 's:' .. id, FIELDS)
  if f[1] then
    out[#out + 1] = {id, f}
  end
end
return out
`)

// deleteScript removes one session; it returns 0 when it is missing.
// ARGV[3]: id.
var deleteScript = sessionScript(`
if remove(ARGV[3]) then
  return 1
end
return 0
`)

// deleteUserScript removes a user's sessions but one, returning them as
// {id, fields} pairs. ARGV[3..4]: user ID, the ID to spare.
var deleteUserScript = sessionScript(`
local uk = P .. 'u:' .. ARGV[3]
local out = {}
for _, id in ipairs(redis.call('ZRANGE', uk, 0, -1)) do
  if id ~= ARGV[4] then
    local f = remove(id)
    if f then
      out[#out + 1] = {id, f}
    end
    redis.call('ZREM', uk, id)
  end
end
return out
`)

// deleteExpiredScript removes up to a batch of sessions dead at now,
// returning {removed, examined}: index entries whose session Redis has
// already expired are swept without counting. ARGV[3..4]: now, batch size.
var deleteExpiredScript = sessionScript(`
local ek = P .. 'exp'
local ids = redis.call('ZRANGEBYSCORE', ek, '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local n = 0
for _, id in ipairs(ids) do
  if remove(id) then
    n = n + 1
  end
  redis.call('ZREM', ek, id)
end
return {n, #ids}
`)

// addRevocationsScript appends revocations. KEYS: {p}rev:seq, {p}rev,
// {p}rev:exp. ARGV[1] is the channel; then a (json, expires at) pair per
// entry. Seqs come from one INCRBY and the entries are added in the same
// script, so Seq order is the order entries become visible. It returns
// the last Seq.
//
// The counter never falls below Redis's clock in microseconds: if Redis
// loses its data (no persistence, or the last second before a crash), the
// counter restarts there rather than at 1, so Seqs stay increasing and
// instances that follow "Seq > last seen" do not skip the new entries.
// Seqs stay below 2^53, exact as Lua numbers; they are printed with %.0f
// because tostring would round them.
var addRevocationsScript = rueidis.NewLuaScript(`
local n = (#ARGV - 1) / 2
local t = redis.call('TIME')
local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < floor then
  redis.call('SET', KEYS[1], string.format('%.0f', floor))
end
local last = redis.call('INCRBY', KEYS[1], n)
local first = last - n + 1
for i = 0, n - 1 do
  local seq = string.format('%.0f', first + i)
  redis.call('ZADD', KEYS[2], seq, seq .. ':' .. ARGV[2 + 2 * i])
  redis.call('ZADD', KEYS[3], ARGV[3 + 2 * i], seq)
end
redis.call('PUBLISH', ARGV[1], string.format('%.0f', last))
return last
`)

// deleteRevocationsScript removes up to a batch of entries expired at
// now and returns how many. KEYS: {p}rev, {p}rev:exp. ARGV: now, batch
// size.
var deleteRevocationsScript = rueidis.NewLuaScript(`
local seqs = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, s in ipairs(seqs) do
  redis.call('ZREMRANGEBYSCORE', KEYS[1], s, s)
  redis.call('ZREM', KEYS[2], s)
end
return #seqs
`)
