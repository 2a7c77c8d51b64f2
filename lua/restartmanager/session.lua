--- Sessions of the Lua layer: start one (the primary installer), join one
-- by key (a secondary installer), register resources in batches, list who
-- uses them in the loop that follows a growing list, shut down, restart,
-- filter. A `Session` wraps one `restartmanager.core` session handle.
--
-- Operations that fail return `nil, message, code`; misuse raises.
-- @module restartmanager.session
-- @alias S
local core = require "restartmanager.core"
local check = require "restartmanager.check"
local paths = require "restartmanager.paths"
local errors = require "restartmanager.errors"

local S = {
  --- Environment variable through which a primary installer hands its
  -- session key to the secondary installers it starts.
  KEY_ENV = "RESTARTMANAGER_KEY",
  --- Command-line option through which a primary installer may hand the
  -- key instead (`--restartmanager-key=KEY`).
  KEY_OPTION = "--restartmanager-key=",
  --- How many times `Session:list` calls RmGetList when the list keeps
  -- growing between calls (`ERROR_MORE_DATA`).
  LIST_TRIES = 6,
  --- The capacity `Session:list` asks for first.
  LIST_CAPACITY = 256,
  --- How long (seconds) a shutdown waits for applications to stop
  -- politely before it gives up on them (or, with `force`, kills them).
  SHUTDOWN_TIMEOUT = 30,
}

local Session = {}
Session.__index = Session
Session.__name = "restartmanager.session"
S.Session = Session

local function wrap(handle, key, primary)
  return setmetatable({ handle = handle, key = key, primary = primary },
    Session)
end

--- Whether `v` is a session of this module.
-- @param v
-- @treturn boolean
function S.is_session(v)
  return getmetatable(v) == Session
end

--- Starts a session; the caller is its primary installer.
-- @tparam[opt] table opts `private` (boolean): a session nobody can join
-- (its key joins nothing). On Linux its registrations stay in this process
-- and the session store is never touched, which makes it cheaper;
-- `who_uses` and `plan` use one.
-- @treturn[1] Session
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function S.start(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #1 to 'start' (table expected, got " .. type(opts)
      .. ")", 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "private" then
      error(("bad option '%s' to 'start'"):format(tostring(k)), 2)
    end
  end
  if opts.private ~= nil and type(opts.private) ~= "boolean" then
    error("bad option 'private' to 'start' (boolean expected, got "
      .. type(opts.private) .. ")", 2)
  end
  local handle, key, code = core.start_session { private = opts.private }
  if not handle then return nil, key, code end
  return wrap(handle, key, true)
end

--- The key a primary installer handed to this process: the
-- `--restartmanager-key=KEY` argument if given (in `args`, default the
-- global `arg`), else the `RESTARTMANAGER_KEY` environment variable.
-- @tparam[opt] {string,...} args
-- @treturn string|nil
function S.handed_key(args)
  args = args or rawget(_G, "arg") or {}
  local prefix = S.KEY_OPTION
  for _, a in ipairs(args) do
    if type(a) == "string" and a:sub(1, #prefix) == prefix then
      return a:sub(#prefix + 1)
    end
  end
  local env = os.getenv(S.KEY_ENV)
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
function S.join(key)
  if key == nil then
    key = S.handed_key()
    if key == nil then
      error("no session key: pass one, or set " .. S.KEY_ENV, 2)
    end
  elseif type(key) ~= "string" then
    error("bad argument #1 to 'join' (string expected, got " .. type(key)
      .. ")", 2)
  end
  local handle, msg, code = core.join_session(key)
  if not handle then return nil, msg, code end
  return wrap(handle, key, false)
end

--- Turns reboot reason bits into a set of names (`{}` when none).
-- @tparam integer bits
-- @treturn table e.g. `{detected_self = true}`
function S.reboot_reasons(bits)
  local set = {}
  for name, value in pairs(core.reboot_reason) do
    if type(name) == "string" and value ~= 0 and bits & value ~= 0 then
      set[name] = true
    end
  end
  return set
end

--- The failure for registered paths that do not exist.
-- @tparam {string,...} missing the paths
-- @treturn string message `ERROR_FILE_NOT_FOUND (2): no such file: ...`
-- @treturn integer 2
function S.missing_message(missing)
  local quoted = {}
  for i, p in ipairs(missing) do quoted[i] = ("'%s'"):format(p) end
  return errors.message("ERROR_FILE_NOT_FOUND", "no such file: %s "
    .. "(allow_missing accepts files that do not exist)",
    table.concat(quoted, ", "))
end

--- Who uses these files: starts a session, registers them, lists, ends.
-- @param resources a list of paths (or one path), or a resources table
-- as for `Session:register`
-- @tparam[opt] table opts `allow_missing` (accept paths that do not
-- exist; by default they fail the call with `ERROR_FILE_NOT_FOUND`, 2)
-- @treturn[1] {app,...} apps
-- @treturn[1] table reboot reasons as a set of names
-- @treturn[1] integer processes that could not be inspected
-- @treturn[1] {integer,...} their pids
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function S.who_uses(resources, opts)
  if type(resources) == "string" then resources = { resources } end
  check.table_arg(resources, 1, "who_uses", 2)
  opts = check.table_arg(opts or {}, 2, "who_uses", 2)
  for k, v in pairs(opts) do
    if k ~= "allow_missing" then
      error(("unknown option '%s'"):format(tostring(k)), 2)
    elseif type(v) ~= "boolean" then
      error("bad option 'allow_missing' (boolean expected, got " .. type(v)
        .. ")", 2)
    end
  end
  -- a bare list of paths is the usual call here (tens of thousands of
  -- keys: the loop looks up nothing)
  local list, integer = true, math.type
  for k in pairs(resources) do
    if integer(k) ~= "integer" then
      list = false
      break
    end
  end
  if list then resources = { files = resources } end
  check.resources(resources, "who_uses", 2)
  local session <close>, msg, code = S.start { private = true }
  if not session then return nil, msg, code end
  -- the native backend tells which paths were missing when it listed (it
  -- looks each up then, once); elsewhere they are looked up first
  local after = session.handle.missing ~= nil
  local files = resources.files or {}
  if not opts.allow_missing and not after then
    local missing = paths.missing(files)
    if #missing > 0 then return nil, S.missing_message(missing) end
  end
  local ok
  ok, msg, code = session:register(resources)
  if not ok then return nil, msg, code end
  local r = table.pack(session:list())
  if r[1] and not opts.allow_missing and after then
    local places, missing = session.handle:missing(), {}
    for i, k in ipairs(places) do missing[i] = files[k] end
    if #missing > 0 then return nil, S.missing_message(missing) end
  end
  return table.unpack(r, 1, r.n)
end

--- A session of the Lua layer.
-- Fields: `key` (the session key), `primary` (true for the session's
-- starter), `handle` (the `restartmanager.core` session).
-- @type Session

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

--- Registers resources with the session, all or nothing: one
-- RmRegisterResources call, which the native store writes as one record
-- under its lock and cuts back off whole when it fails (a full disk).
-- @tparam table resources `files` (paths), `processes` (each a pid or a
-- `{pid=, start_time=}` table; a bare pid is resolved to the live process
-- now) and `services` (names), each optional; any other key raises (a bare
-- list of paths included). A path is registered whether it exists or not
-- (it may be created before the list): `update`, `close`, `plan` and
-- `who_uses` are the ones that refuse missing files.
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Session:register(resources)
  check.resources(resources, "register", 2)
  local given_files, nf = check.opt_array(resources.files, "files", 2)
  local given_svcs, ns = check.opt_array(resources.services, "services", 2)
  local given, np = check.opt_array(resources.processes, "processes", 2)
  -- every entry is checked before anything is registered, so that a bad
  -- one registers nothing and is named by its index in the array
  local function names(t, n, field)
    local out = {}
    for i = 1, n do
      local v = t[i]
      if type(v) ~= "string" then
        error(("bad field '%s' (string expected at index %d, got %s)"):format(
          field, i, type(v)), 3)
      elseif v:find("\0", 1, true) then
        error(("bad field '%s' (string at index %d contains a zero byte)")
          :format(field, i), 3)
      end
      out[i] = v
    end
    return out
  end
  if np == 0 then
    if nf + ns == 0 then return true end
    -- files and services only: the one call checks every entry before it
    -- registers any, so they are checked here (for this function's
    -- messages) only when it refuses them, and not copied first
    local r = table.pack(pcall(self.handle.register_resources, self.handle,
      given_files, nil, given_svcs))
    if r[1] then return table.unpack(r, 2, r.n) end
    names(given_files, nf, "files")
    names(given_svcs, ns, "services")
    error(r[2], 0)
  end
  local files = names(given_files, nf, "files")
  local services = names(given_svcs, ns, "services")
  local processes = {}
  for i = 1, np do
    local p = given[i]
    if math.type(p) == "integer" then
      local proc, msg, code = core.process(p)
      if not proc then return nil, msg, code end
      processes[i] = proc
    elseif type(p) == "table" and math.type(p.pid) == "integer"
        and math.type(p.start_time) == "integer" then
      processes[i] = { pid = p.pid, start_time = p.start_time }
    else
      error(("bad field 'processes' (pid or {pid=, start_time=} expected at "
        .. "index %d, got %s)"):format(i, type(p)), 2)
    end
  end
  if math.max(nf, np, ns) == 0 then return true end
  -- one call whatever the length: a list split over several calls would
  -- stay half registered when a later call fails
  return self.handle:register_resources(files, processes, services)
end

--- The applications and services that use the session's resources:
-- RmGetList in a loop that follows the list while it grows (at most
-- `LIST_TRIES` calls).
-- @treturn[1] {app,...} apps, each `{pid=, start_time=, name=, service=,
-- type=, status=, session_id=, restartable=}`; on Linux a service also has
-- `systemd`: true when systemd stops and starts it, else a string saying
-- why it cannot (it is then stopped with signals)
-- @treturn[1] table reboot reasons as a set of names
-- @treturn[1] integer how many processes could not be inspected (Linux:
-- other users' processes when not running as root, and processes hidden
-- even from root, such as a container's init); they may use the files too
-- @treturn[1] {integer,...} their pids
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Session:list()
  -- A first guess big enough for most lists saves a second scan; after an
  -- ERROR_MORE_DATA the list is asked for again with room to grow.
  local capacity = math.max(self.last_needed or 0, S.LIST_CAPACITY)
  local code, msg
  for _ = 1, S.LIST_TRIES do
    local apps, reasons, uninspected, more = self.handle:get_list(capacity)
    if apps then
      self.last_needed = #apps
      return apps, S.reboot_reasons(reasons), uninspected, more or {}
    end
    local needed = more
    msg, code = reasons, uninspected
    if code ~= core.error.ERROR_MORE_DATA then return nil, msg, code end
    capacity = needed + needed // 8 + 1
  end
  return nil, msg, code
end

--- Shuts down the applications and services that use the registered
-- resources (primary only). Nothing is stopped when a reboot would be
-- needed (`ERROR_FAIL_NOACTION_REBOOT`, 350).
-- @tparam[opt] table opts `force` (kill what does not stop in time),
-- `only_registered` (stop nothing unless every app can be restarted),
-- `timeout` (seconds, default `SHUTDOWN_TIMEOUT`; native backend),
-- `progress` (a function called with percentages that never fall; on Linux
-- the last one again about once a second while applications are given
-- time to stop)
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code (351 when some did not stop)
function Session:shutdown(opts)
  opts = check.opts(opts, "shutdown", 2)
  local flags = 0
  if opts.force then flags = flags | core.shutdown.force end
  if opts.only_registered then flags = flags | core.shutdown.only_registered end
  local timeout = opts.timeout or S.SHUTDOWN_TIMEOUT
  if type(timeout) ~= "number" or timeout < 0 or timeout ~= timeout then
    error("bad field 'timeout' (non-negative number of seconds expected)", 2)
  elseif timeout > 2147483 then
    error("bad field 'timeout' (at most 2147483 seconds)", 2)
  end
  return self.handle:shutdown(flags, opts.progress,
    math.floor(timeout * 1000 + 0.5))
end

--- Restarts what this session shut down and that registered for restart
-- (primary only).
-- @tparam[opt] table opts `progress` (a function called with rising
-- percentages)
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code (352 when some failed, 776 before a
-- shutdown)
function Session:restart(opts)
  opts = check.opts(opts, "restart", 2)
  return self.handle:restart(opts.progress)
end

--- Asks the running shutdown or restart to stop (it then returns
-- `ERROR_CANCELLED`, 1223); callable from a progress function.
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Session:cancel()
  return self.handle:cancel()
end

local FILTER_KINDS = { files = "file", processes = "process",
  services = "service" }

--- Adds filters (primary only): `action` (`"no_shutdown"` keeps the apps
-- running, `"no_restart"` keeps them down after the shutdown) for every
-- target in `files`, `processes` (pids or `{pid=, start_time=}`) and
-- `services`. With `remove = true` the filters of those targets are removed
-- instead.
-- @tparam table spec
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Session:filter(spec)
  spec = check.opts(spec, "filter", 2)
  if not spec.remove and spec.action ~= "no_shutdown"
      and spec.action ~= "no_restart" then
    error("bad field 'action' ('no_shutdown' or 'no_restart' expected)", 2)
  end
  for field, kind in pairs(FILTER_KINDS) do
    for _, target in ipairs(check.opt_array(spec[field], field, 2)) do
      if kind == "process" and math.type(target) == "integer" then
        local proc, msg, code = core.process(target)
        if not proc then return nil, msg, code end
        target = proc
      end
      local ok, msg, code
      if spec.remove then
        ok, msg, code = self.handle:remove_filter(kind, target)
      else
        ok, msg, code = self.handle:add_filter(kind, target, spec.action)
      end
      if not ok then return nil, msg, code end
    end
  end
  return true
end

--- The session's filters, as `{kind=, target=, action=}` tables.
-- @treturn[1] table
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Session:filters()
  return self.handle:get_filter_list()
end

--- Starts a secondary installer with this session's key (see
-- `restartmanager.spawn_secondary`).
-- @tparam {string,...} cmd
-- @tparam[opt] table opts as for `spawn_secondary`, without `session` and
-- `key`
function Session:spawn_secondary(cmd, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.session = self
  return require("restartmanager.secondary").spawn(cmd, o)
end

return S
