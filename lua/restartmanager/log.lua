--- The machine-readable log of `restartmanager.update`,
-- `restartmanager.close` and the command-line tool: one JSON object per
-- line, one line per step.
--
-- Every line has `step` and `time` (seconds since the epoch, with
-- milliseconds when `luasystem` is installed). Lines about one application
-- carry its `pid`, `start_time`, `name`, `type` and `restartable`. The
-- steps, in the order they can happen:
--
-- * `started`: the session was started (`files`, `processes`,
--   `services`: how many were registered)
-- * `warning`: something the procedure goes on despite (`reason`
--   "uninspected": processes that could not be inspected, `uninspected`,
--   `pids`; `message`)
-- * `listed`: one per application the list gave, with the policy's
--   `action` ("stop", "spare", "none") and `why`
-- * `planned`: the summary (`stop`, `spare`, `restart`, `reboot_reasons`,
--   `uninspected`, `uninspected_pids`, `missing` (accepted missing files),
--   `dry_run`, `refused`)
-- * `refused`: the procedure stops before stopping anything (`code`,
--   `message`)
-- * `spared`: a never-touch rule keeps the application running (`why`)
-- * `stop_requested`: the application is asked to stop
-- * `stopped`: it stopped
-- * `force_requested`: it did not stop in time and is killed
-- * `forced`: it was killed
-- * `failed`: a step failed (`phase` "files", "start", "register",
--   "list", "filter", "shutdown" or "restart", `code`, `message`; an
--   application's fields when it is about one; `missing` for "files",
--   `pids` for "restart")
-- * `cancelled`: the running step was cancelled (`reason`: "deadline")
-- * `updated`: the update function returned (`ok`; `message` when it
--   raised, and `code` 1603 with `message` when it returned `false` or
--   `nil, message`)
-- * `restarted`: the application was brought back
-- * `not_restarted`: it stays down (`why`)
-- * `ended`: the session ended (`ok`, `code`, `message`)
--
-- The JSON is written by `restartmanager.json`: the same whatever JSON
-- library is installed (none is needed to write it).
--
-- @module restartmanager.log
-- @alias L
local L = {}

local json = require "restartmanager.json"

--- Encodes one log record as a line of JSON (without the newline).
-- @tparam table record
-- @treturn string
function L.encode(record)
  return json.encode(record)
end

local clock_now
do
  local ok, system = pcall(require, "system")
  if ok and type(system) == "table" and system.gettime then
    clock_now = system.gettime
  else
    clock_now = os.time
  end
end

--- The time stamp of log lines: seconds since the epoch.
-- @treturn number
function L.now()
  return clock_now()
end

--- A sink: turns `target` into a function that takes one record (a table)
-- and writes it as one JSON line.
-- @param target a function (called with each line, without its newline)
-- or a file handle (each line is written with a newline and flushed); nil
-- for no log
-- @tparam[opt=1] integer level the level errors are reported at, as for
-- `error`
-- @treturn function|nil
function L.sink(target, level)
  level = (level or 1) + 1
  if target == nil or target == false then return nil end
  local write
  if type(target) == "function" or (getmetatable(target) or {}).__call then
    write = target
  elseif io.type(target) == "file" or (type(target) == "table"
      and type(target.write) == "function") then
    write = function(line)
      target:write(line, "\n")
      if target.flush then target:flush() end
    end
  else
    error("bad option 'log' (function or file handle expected, got "
      .. type(target) .. ")", level)
  end
  return function(record)
    record.time = record.time or L.now()
    write(L.encode(record))
  end
end

return L
