-- wrk script for scripts/wrk-crosscheck.sh: POST /v1/introspect (form) by
-- one caller holding tokens:introspect, about every user's access token in
-- turn (one a line in the file given after "--"), as the harness's
-- introspect scenario does. Answers that are not "active":true are
-- counted and reported at the end (wrk itself counts only non-2xx).
--
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk-introspect.lua URL/v1/introspect -- tokens.txt CALLER_TOKEN

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

function init(args)
   lines = {}
   for line in io.lines(args[1]) do
      if line ~= "" then table.insert(lines, line) end
   end
   if #lines == 0 then error("no tokens in " .. args[1]) end
   caller = args[2]
   i = (id * 7919) % #lines
   inactive = 0
end

function request()
   i = i % #lines + 1
   return wrk.format("POST", nil, {
      ["Authorization"] = "Bearer " .. caller,
      ["Content-Type"] = "application/x-www-form-urlencoded",
   }, "token=" .. lines[i]) -- JWTs are base64url and dots: nothing to escape
end

function response(status, headers, body)
   if status ~= 200 or not string.find(body, '"active":true', 1, true) then
      inactive = inactive + 1
   end
end

function done(summary, latency, requests)
   local n = 0
   for _, t in ipairs(threads) do n = n + t:get("inactive") end
   io.write(string.format("Not active or not 200: %d\n", n))
end
