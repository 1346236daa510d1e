-- One endpoint of the partner API under wrk, every request distinct.
-- Run by benchmarks/http_hot_path.py, which sets the environment:
--
--   BENCH_MODE         healthz | me | get | assign | lock | redeem
--   BENCH_API_KEY      the partner's key (all modes but healthz)
--   BENCH_TAG          unique to the run: user ids and Idempotency-Keys start with it
--   BENCH_THREADS      wrk's thread count: each thread takes its share of BENCH_FILE
--   BENCH_FILE         get: one code a line, read round-robin;
--                      lock, redeem: "code<TAB>user_id" lines, each used once
--   BENCH_BOOK_ID      assign: the book to draw from
--   BENCH_IDEMPOTENCY  "1": a distinct Idempotency-Key on every POST
--
-- done() prints one line "BENCH_JSON {...}" with wrk's summary, the latency
-- percentiles, the responses by status and the user ids answered 2xx (so that
-- the database can be checked against what the client saw).

local mode = os.getenv("BENCH_MODE") or "healthz"
local api_key = os.getenv("BENCH_API_KEY") or ""
local tag = os.getenv("BENCH_TAG") or "run"
local threads_total = tonumber(os.getenv("BENCH_THREADS") or "1")
local items_file = os.getenv("BENCH_FILE")
local book_id = os.getenv("BENCH_BOOK_ID") or "0"
local with_key = os.getenv("BENCH_IDEMPOTENCY") == "1"
local is_post = mode == "assign" or mode == "lock" or mode == "redeem"

-- Main state: the threads, to read their counters in done().
local threads = {}

function setup(thread)
   thread:set("thread_id", #threads)
   table.insert(threads, thread)
end

-- Thread state. Globals, because done() reads them with thread:get().
thread_id = 0
-- Requests made. Before the run wrk calls request() once in thread 0 to check
-- the script and never sends it: that pair is skipped, not reused.
sent = 0
responses = 0
statuses = {}
ok_users = {}
exhausted = false

local items = {}
local next_item = 1
local headers = {}

function init(args)
   headers["Authorization"] = "Api-Key " .. api_key
   if is_post then
      headers["Content-Type"] = "application/json"
   end
   if items_file then
      -- Thread n takes lines n, n + threads, ...: no two threads share a line.
      local line_number = 0
      for line in io.lines(items_file) do
         if line_number % threads_total == thread_id then
            table.insert(items, line)
         end
         line_number = line_number + 1
      end
   end
end

-- The next unused line of the file; once all are used the thread stops (a
-- prepared pair is never sent twice) and the run is reported as exhausted.
local function take()
   local item = items[next_item]
   if item == nil then
      exhausted = true
      wrk.thread:stop()
      return nil
   end
   next_item = next_item + 1
   return item
end

local function post(path, body)
   if with_key then
      headers["Idempotency-Key"] = tag .. "-k" .. thread_id .. "-" .. sent
   end
   return wrk.format("POST", path, headers, body)
end

local function pair()
   local item = take()
   if item == nil then
      return nil, nil
   end
   local code, user = item:match("^([^\t]+)\t(.+)$")
   return code, user
end

function request()
   sent = sent + 1
   if mode == "healthz" then
      return wrk.format("GET", "/healthz")
   elseif mode == "me" then
      return wrk.format("GET", "/api/v1/me", headers)
   elseif mode == "get" then
      -- Reads may repeat: round-robin over the codes.
      local code = items[(sent - 1) % #items + 1]
      return wrk.format("GET", "/api/v1/coupons/" .. code, headers)
   elseif mode == "assign" then
      local user = tag .. "-" .. thread_id .. "-" .. sent
      return post("/api/v1/coupons/assign", '{"book_id":' .. book_id .. ',"user_id":"' .. user .. '"}')
   end
   local code, user = pair()
   if code == nil then
      -- Out of pairs: the thread is stopping; ask for something harmless.
      return wrk.format("GET", "/healthz")
   end
   if mode == "lock" then
      return post("/api/v1/coupons/lock/" .. code, '{"user_id":"' .. user .. '"}')
   end
   local body = '{"user_id":"' .. user .. '","metadata":{"order_id":"' .. tag .. "-" .. sent .. '"}}'
   return post("/api/v1/coupons/redeem/" .. code, body)
end

function response(status, response_headers, body)
   responses = responses + 1
   statuses[status] = (statuses[status] or 0) + 1
   if is_post and status >= 200 and status < 300 then
      local user = body:match('"user_id"%s*:%s*"([^"]*)"')
      if user then
         ok_users[#ok_users + 1] = user
      end
   end
end

local function json_string(value)
   return '"' .. tostring(value):gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
   end) .. '"'
end

function done(summary, latency, requests)
   local totals = { sent = 0, responses = 0, exhausted = false }
   local by_status = {}
   local users = {}
   for _, thread in ipairs(threads) do
      totals.sent = totals.sent + thread:get("sent")
      totals.responses = totals.responses + thread:get("responses")
      totals.exhausted = totals.exhausted or thread:get("exhausted")
      for status, count in pairs(thread:get("statuses")) do
         by_status[status] = (by_status[status] or 0) + count
      end
      for _, user in ipairs(thread:get("ok_users")) do
         users[#users + 1] = json_string(user)
      end
   end
   local statuses_json = {}
   for status, count in pairs(by_status) do
      statuses_json[#statuses_json + 1] = '"' .. status .. '":' .. count
   end
   local e = summary.errors
   local fields = {
      '"requests":' .. summary.requests,
      '"duration_us":' .. summary.duration,
      '"errors":{"connect":' .. e.connect .. ',"read":' .. e.read .. ',"write":' .. e.write
         .. ',"status":' .. e.status .. ',"timeout":' .. e.timeout .. "}",
      '"p50_us":' .. latency:percentile(50),
      '"p90_us":' .. latency:percentile(90),
      '"p99_us":' .. latency:percentile(99),
      '"max_us":' .. latency.max,
      '"sent":' .. totals.sent,
      '"responses":' .. totals.responses,
      '"exhausted":' .. tostring(totals.exhausted),
      '"statuses":{' .. table.concat(statuses_json, ",") .. "}",
      '"ok_users":[' .. table.concat(users, ",") .. "]",
   }
   io.write("BENCH_JSON {" .. table.concat(fields, ",") .. "}\n")
end
