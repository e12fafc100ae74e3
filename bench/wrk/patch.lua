-- PATCH /api/v1/clients/{id} with If-Match, over clients from a file of "id version" lines.
-- Each thread takes its own share of the clients and keeps their versions from the responses'
-- ETags, so a 412 only happens if two requests of one thread hit one client at once.
--   wrk ... -s patch.lua <url> -- <clients file> <token>
local clients = {}
local versions = {}
local token
local next_index = 0
local threads_started = 0

-- Runs in the main Lua state: numbers each thread (a global of the thread's own state).
function setup(thread)
    threads_started = threads_started + 1
    thread:set("thread_number", threads_started)
end

function init(args)
    token = args[2]
    local all = {}
    for line in io.lines(args[1]) do
        local id, version = line:match("(%S+)%s+(%d+)")
        all[#all + 1] = {id, version}
    end
    -- Threads take every other client (two threads).
    for i = thread_number, #all, 2 do
        clients[#clients + 1] = all[i][1]
        versions[all[i][1]] = all[i][2]
    end
end

function request()
    next_index = next_index % #clients + 1
    local id = clients[next_index]
    local body = string.format('{"notes": "load test %d"}', next_index)
    return wrk.format("PATCH", "/api/v1/clients/" .. id, {
        ["Authorization"] = "Bearer " .. token,
        ["Content-Type"] = "application/json",
        ["If-Match"] = '"' .. versions[id] .. '"',
    }, body)
end

function response(status, headers, body)
    local id = body:match('"id":"([%x%-]+)"')
    local etag = headers["ETag"] or headers["etag"]
    if id and etag then
        versions[id] = etag:gsub('"', '')
    end
end
