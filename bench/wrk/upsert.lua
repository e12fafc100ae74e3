-- PUT /api/v1/clients/by-ref/bench-single/<id> of a new ref each time (a new person, a unique
-- email, so never a duplicate):
--   wrk ... -s upsert.lua <url> -- <token> <run id>
local token, run
local counter = 0
local threads_started = 0

-- Runs in the main Lua state: numbers each thread (a global of the thread's own state).
function setup(thread)
    threads_started = threads_started + 1
    thread:set("thread_number", threads_started)
end

function init(args)
    token = args[1]
    run = args[2]
end

function request()
    counter = counter + 1
    local body = string.format(
        '{"kind": "person", "last_name": "Бенчмарков", "first_name": "Тест%d", ' ..
        '"emails": [{"value": "upsert-%s-%d-%d@load.example"}], "tags": ["load"]}',
        counter, run, thread_number, counter)
    local path = string.format("/api/v1/clients/by-ref/bench-single/%s-%d-%d", run, thread_number, counter)
    return wrk.format("PUT", path,
        {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
