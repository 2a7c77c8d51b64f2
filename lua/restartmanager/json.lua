--- JSON for the log, the command-line tool and policy files: `dkjson`
-- (Debian: lua-dkjson) when installed, else `cjson` (Debian: lua-cjson).
-- Neither is needed by the rest of restartmanager.
-- @module restartmanager.json
local J = {}

--- The order keys are written in, where dkjson writes them (cjson writes
-- them in any order).
J.KEY_ORDER = { "time", "step", "phase", "pid", "start_time", "name", "type",
  "service", "systemd", "restartable", "executable", "status", "session_id", "action",
  "why", "force", "restart", "restart_why", "outcome", "restart_outcome",
  "ok", "code", "message", "reason", "files", "processes", "services",
  "dry_run", "stop", "spare", "reboot_reasons", "uninspected", "refused",
  "pids", "apps", "policy" }

local impl

local function load()
  if impl ~= nil then return impl end
  local ok, dk = pcall(require, "dkjson")
  if ok and type(dk) == "table" and dk.encode and dk.decode then
    impl = {
      name = "dkjson",
      encode = function(v) return dk.encode(v, { keyorder = J.KEY_ORDER }) end,
      decode = function(s)
        local v, _, err = dk.decode(s, 1, dk.null)
        if err then return nil, err end
        return v
      end,
    }
    return impl
  end
  local cok, cjson = pcall(require, "cjson")
  if cok and type(cjson) == "table" and cjson.encode then
    cjson = cjson.new and cjson.new() or cjson
    -- cjson writes numbers as doubles: large integers stay exact as text
    local function exact(v)
      if math.type(v) == "integer" and (v > 2 ^ 53 or v < -2 ^ 53) then
        return tostring(v)
      elseif type(v) == "table" then
        local copy = {}
        for k, x in pairs(v) do copy[k] = exact(x) end
        return copy
      end
      return v
    end
    impl = {
      name = "cjson",
      encode = function(v) return cjson.encode(exact(v)) end,
      decode = function(s)
        local ok2, v = pcall(cjson.decode, s)
        if not ok2 then return nil, tostring(v) end
        return v
      end,
    }
    return impl
  end
  impl = false
  return impl
end

--- Whether a JSON library is installed.
-- @treturn string|nil "dkjson" or "cjson", or nil
function J.available()
  local i = load()
  return i and i.name or nil
end

local function need(level)
  local i = load()
  if not i then
    error("JSON needs lua-dkjson or lua-cjson (neither is installed)",
      level + 1)
  end
  return i
end

--- Encodes a value (tables with an array part become arrays; an empty
-- table is `[]` with dkjson). Raises when no JSON library is installed.
-- @param value
-- @treturn string
function J.encode(value)
  return need(2).encode(value)
end

--- Decodes a JSON text.
-- @tparam string text
-- @return[1] the value
-- @treturn[2] nil
-- @treturn[2] string what is wrong with the text
function J.decode(text)
  return need(2).decode(text)
end

return J
