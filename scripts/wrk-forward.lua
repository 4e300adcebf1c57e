-- wrk script for scripts/wrk-crosscheck.sh: GET /v1/authz/forward with the
-- X-Forwarded-* headers a proxy sends and a session cookie, rotating
-- through every user's cookie (one "name=value" a line in the file given
-- after "--"), as the harness's forward-cookie scenario does.
--
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk-forward.lua URL/v1/authz/forward -- cookies.txt

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
   if #lines == 0 then error("no cookies in " .. args[1]) end
   -- Threads start at different places in the list.
   i = (id * 7919) % #lines
end

function request()
   i = i % #lines + 1
   return wrk.format("GET", nil, {
      ["X-Forwarded-Method"] = "GET",
      ["X-Forwarded-Proto"] = "https",
      ["X-Forwarded-Host"] = "app.example.com",
      ["X-Forwarded-Uri"] = "/dashboard?tab=1",
      ["Cookie"] = lines[i],
   })
end
