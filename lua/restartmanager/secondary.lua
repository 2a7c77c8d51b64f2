--- Secondary installers: start a program with the session key handed to
-- it (`spawn`, which `restartmanager.spawn_secondary` and
-- `Session:spawn_secondary` are), and the `Process` object to wait for it.
-- @module restartmanager.secondary
-- @alias X
local core = require "restartmanager.core"
local session = require "restartmanager.session"
local check = require "restartmanager.check"

local X = {}

local Process = {}
Process.__index = Process
Process.__name = "restartmanager.process"
X.Process = Process

--- Starts a secondary installer with the session key handed to it: what
-- `restartmanager.spawn_secondary` documents.
-- @tparam {string,...} cmd the program and its arguments
-- @tparam table opts `session` or `key`, `env`, `arg`, `wait`
-- @return as `restartmanager.spawn_secondary`
function X.spawn(cmd, opts)
  if type(cmd) == "table" then check.len(cmd, "argument #1 to 'spawn_secondary'", 2) end
  if type(cmd) ~= "table" or #cmd == 0 then
    error("bad argument #1 to 'spawn_secondary' (non-empty array of strings "
      .. "expected, got " .. (type(cmd) == "table" and "an empty table"
      or type(cmd)) .. ")", 2)
  end
  for i, a in ipairs(cmd) do
    if type(a) ~= "string" then
      error(("bad argument #1 to 'spawn_secondary' (string expected at "
        .. "index %d, got %s)"):format(i, type(a)), 2)
    end
  end
  if type(opts) ~= "table" then
    error("bad argument #2 to 'spawn_secondary' (table expected, got "
      .. type(opts) .. ")", 2)
  end
  for k in pairs(opts) do
    if k ~= "session" and k ~= "key" and k ~= "env" and k ~= "arg"
        and k ~= "wait" then
      error(("unknown option '%s'"):format(tostring(k)), 2)
    end
  end
  local key = opts.key
  if opts.session ~= nil then
    if not session.is_session(opts.session) then
      error("bad option 'session' (restartmanager session expected, got "
        .. type(opts.session) .. ")", 2)
    end
    key = opts.session.key
  end
  if type(key) ~= "string" or key == "" then
    error("bad option 'key' (a session or a key is needed)", 2)
  end
  if opts.env == false and opts.arg == false then
    error("the key would not be handed over: 'env' and 'arg' are both false",
      2)
  end
  local argv = table.move(cmd, 1, #cmd, 1, {})
  if opts.arg ~= false then argv[#argv + 1] = session.KEY_OPTION .. key end
  local env = { [session.KEY_ENV] = false }
  if opts.env ~= false then env[session.KEY_ENV] = key end
  local pid, msg, code = core.spawn(argv, env)
  if not pid then return nil, msg, code end
  local proc = setmetatable({ pid = pid }, Process)
  if opts.wait then return proc:wait() end
  return proc
end

--- A secondary installer started by `spawn_secondary`.
-- Fields: `pid`; after `wait`, `status` and `how`.
-- @type Process

--- Waits for the process to end (again: the first result is kept).
-- @treturn[1] integer its exit status, or the signal that ended it
-- @treturn[1] string "exit" or "signal"
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Process:wait()
  if self.how then return self.status, self.how end
  local how, status, code = core.wait(self.pid)
  if not how then return nil, status, code end
  self.how, self.status = how, status
  return status, how
end

--- Whether the process still runs (it is reaped once it has ended).
-- @treturn boolean
function Process:running()
  if self.how then return false end
  local how, status = core.wait(self.pid, true)
  if how == "running" then return true end
  if how then self.how, self.status = how, status end
  return false
end

function Process:__tostring()
  if self.how then
    return ("restartmanager process %d (%s %d)"):format(self.pid, self.how,
      self.status)
  end
  return ("restartmanager process %d"):format(self.pid)
end

return X
