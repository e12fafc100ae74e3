-- POST /api/v1/clients with a unique person each time (a unique email, so never a duplicate):
--   wrk ... -s create.lua <url> -- <token> <run id>
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
    -- Unique across runs (the run id is the time), threads and requests.
    local body = string.format(
        '{"kind": "person", "last_name": "Бенчмарков", "first_name": "Тест%d", ' ..
        '"emails": [{"value": "bench-%s-%d-%d@load.example"}], "tags": ["load"]}',
        counter, run, thread_number, counter)
    return wrk.format("POST", "/api/v1/clients",
        {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
