--- restartmanager: close the programs that hold the files an installer must
-- replace, and bring them back afterwards.
--
-- The high-level layer over `restartmanager.core`, which is 1:1 with the
-- Restart Manager. Operations that fail return `nil, message, code` (`code`
-- is the Win32 error number on every platform); misuse raises.
--
-- @module restartmanager
local core = require "restartmanager.core"

local M = {
  core = core,
  _VERSION = core._VERSION,
  --- Environment variable through which a primary installer hands its
  -- session key to the secondary installers it starts.
  KEY_ENV = "RESTARTMANAGER_KEY",
  --- Command-line option through which a primary installer may hand the
  -- key instead (`--restartmanager-key=KEY`).
  KEY_OPTION = "--restartmanager-key=",
}

--- A session of the Lua layer.
-- Fields: `key` (the session key), `primary` (true for the session's
-- starter), `handle` (the `restartmanager.core` session).
-- @type Session
local Session = {}
Session.__index = Session
Session.__name = "restartmanager.session"

local function wrap(handle, key, primary)
  return setmetatable({ handle = handle, key = key, primary = primary },
    Session)
end

--- Starts a session; the caller is its primary installer.
-- @treturn[1] Session
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function M.start()
  local handle, key, code = core.start_session()
  if not handle then return nil, key, code end
  return wrap(handle, key, true)
end

--- The key a primary installer handed to this process: the
-- `--restartmanager-key=KEY` argument if given (in `args`, default the
-- global `arg`), else the `RESTARTMANAGER_KEY` environment variable.
-- @tparam[opt] {string,...} args
-- @treturn string|nil
function M.handed_key(args)
  args = args or rawget(_G, "arg") or {}
  local prefix = M.KEY_OPTION
  for _, a in ipairs(args) do
    if type(a) == "string" and a:sub(1, #prefix) == prefix then
      return a:sub(#prefix + 1)
    end
  end
  local env = os.getenv(M.KEY_ENV)
  if env and env ~= "" then return env end
  return nil
end

--- Joins a session as a secondary installer.
-- @tparam[opt] string key the session key; without it, the key handed to
-- this process (see `handed_key`)
-- @treturn[1] Session
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function M.join(key)
  if key == nil then
    key = M.handed_key()
    if key == nil then
      error("no session key: pass one, or set " .. M.KEY_ENV, 2)
    end
  elseif type(key) ~= "string" then
    error("bad argument #1 to 'join' (string expected, got " .. type(key)
      .. ")", 2)
  end
  local handle, msg, code = core.join_session(key)
  if not handle then return nil, msg, code end
  return wrap(handle, key, false)
end

--- Ends the session (a secondary leaves it; the primary destroys it). Also
-- done when the session is garbage-collected or leaves a `<close>` scope.
-- Safe to call twice.
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Session:close()
  return self.handle:end_session()
end

--- Whether the session has been closed.
-- @treturn boolean
function Session:closed()
  -- every method but end_session raises on a closed handle
  return not pcall(self.handle.key, self.handle)
end

function Session:__close()
  self.handle:end_session()
end

function Session:__tostring()
  if self:closed() then return "restartmanager session (closed)" end
  return ("restartmanager session (%s, key %s)"):format(
    self.primary and "primary" or "secondary", self.key)
end

M.Session = Session

return M
