--- restartmanager: close the programs that hold the files an installer must
-- replace, and bring them back afterwards.
--
-- The high-level layer over `restartmanager.core`, which is 1:1 with the
-- Restart Manager. Operations that fail return `nil, message, code` (`code`
-- is the Win32 error number on every platform); misuse raises.
--
-- @module restartmanager
local core = require "restartmanager.core"
local policy = require "restartmanager.policy"
local log = require "restartmanager.log"

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

local Session = {}
Session.__index = Session
Session.__name = "restartmanager.session"

local function wrap(handle, key, primary)
  return setmetatable({ handle = handle, key = key, primary = primary },
    Session)
end

local Process = {}
Process.__index = Process
Process.__name = "restartmanager.process"

--- How many resources one registration call carries at most: each call is
-- one write to the session store (one RmRegisterResources), so large lists
-- go in batches of this size.
M.BATCH = 4096

--- How many times `Session:list` calls RmGetList when the list keeps
-- growing between calls (`ERROR_MORE_DATA`).
M.LIST_TRIES = 6

--- The capacity `Session:list` asks for first.
M.LIST_CAPACITY = 256

local function check_opt_array(t, name, level)
  if t ~= nil and type(t) ~= "table" then
    error(("bad field '%s' (table expected, got %s)"):format(name, type(t)),
      level + 1)
  end
  return t or {}
end

local function slice(t, i, j)
  return table.move(t, i, math.min(j, #t), 1, {})
end

--- How long (seconds) a shutdown waits for applications to stop politely
-- before it gives up on them (or, with `force`, kills them).
M.SHUTDOWN_TIMEOUT = 30

local function check_opts(opts, name, level)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(name,
      type(opts)), level + 1)
  end
  return opts
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

--- Turns reboot reason bits into a set of names (`{}` when none).
-- @tparam integer bits
-- @treturn table e.g. `{detected_self = true}`
function M.reboot_reasons(bits)
  local set = {}
  for name, value in pairs(core.reboot_reason) do
    if type(name) == "string" and value ~= 0 and bits & value ~= 0 then
      set[name] = true
    end
  end
  return set
end

--- Who uses these files: starts a session, registers them, lists, ends.
-- @tparam {string,...} paths
-- @treturn[1] {app,...} apps
-- @treturn[1] table reboot reasons as a set of names
-- @treturn[1] integer processes that could not be inspected
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function M.who_uses(paths)
  if type(paths) == "string" then paths = { paths } end
  if type(paths) ~= "table" then
    error("bad argument #1 to 'who_uses' (table expected, got "
      .. type(paths) .. ")", 2)
  end
  local session <close>, msg, code = M.start()
  if not session then return nil, msg, code end
  local ok
  ok, msg, code = session:register { files = paths }
  if not ok then return nil, msg, code end
  return session:list()
end

local function callable(f)
  return type(f) == "function" or ((getmetatable(f) or {}).__call ~= nil)
end

-- A monotonic clock for deadlines: luasystem's when installed (Debian:
-- lua-system), else os.time (whole seconds).
local monotime
do
  local ok, system = pcall(require, "system")
  if ok and type(system) == "table" and system.monotime then
    monotime = system.monotime
  else
    monotime = os.time
  end
end

-- Whether the process a listed app names is still running (a zombie is
-- not: it holds nothing).
local function alive(app)
  local p = core.process(app.pid)
  if not p or p.start_time ~= app.start_time then return false end
  if core.backend == "linux" then
    local f = io.open("/proc/" .. app.pid .. "/stat")
    if f then
      local st = f:read("l") or ""
      f:close()
      if st:match("^.*%) (%a)") == "Z" then return false end
    end
  end
  return true
end

local function app_record(step, e, extra)
  local rec = { step = step, pid = e.pid, start_time = e.start_time,
    name = e.name, type = e.type, restartable = e.restartable,
    executable = e.executable }
  if e.service and e.service ~= "" then rec.service = e.service end
  if e.systemd ~= nil then rec.systemd = e.systemd end
  for k, v in pairs(extra or {}) do rec[k] = v end
  return rec
end

local function sorted_set(set)
  local names = {}
  for name in pairs(set) do names[#names + 1] = name end
  table.sort(names)
  return names
end

local PROCEDURE_OPTIONS = { progress = true, log = true, dry_run = true,
  on_step = true }

local function error_message(name, fmt, ...)
  local code = core.error[name]
  return ("%s (%d): " .. fmt):format(name, code, ...), code
end

-- The procedure behind update ("update"), close ("close") and plan
-- ("plan"). Raises only for misuse, or afterwards for an error of fn, of
-- the progress function or of the log sink, once everything stopped has
-- been restarted (update) and the session has ended.
local function procedure(mode, resources, fn, opts)
  if type(resources) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(mode,
      type(resources)), 3)
  end
  local pol = policy.new(opts, PROCEDURE_OPTIONS, 3)
  opts = opts or {}
  if opts.timeout == nil then pol.timeout = M.SHUTDOWN_TIMEOUT end
  if opts.progress ~= nil and not callable(opts.progress) then
    error("bad option 'progress' (function expected, got "
      .. type(opts.progress) .. ")", 3)
  end
  if opts.on_step ~= nil and not callable(opts.on_step) then
    error("bad option 'on_step' (function expected, got "
      .. type(opts.on_step) .. ")", 3)
  end
  if mode == "update" and opts.dry_run then mode = "plan" end
  local sink = log.sink(opts.log, 3)
  local on_step = opts.on_step

  -- the log never interrupts the procedure: its first error is raised at
  -- the end
  local raise = {}
  local function emit(rec)
    if raise.sink then return end
    rec.time = log.now()
    local ok, err = true, nil
    if on_step then ok, err = pcall(on_step, rec) end
    if ok and sink then ok, err = pcall(sink, rec) end
    if not ok then raise.sink = { err } end
  end

  local t0 = monotime()
  local deadline = pol.deadline and t0 + pol.deadline
  local function past_deadline()
    return deadline ~= nil and monotime() >= deadline
  end

  local session <close>, msg, code = M.start()
  if not session then
    emit { step = "failed", phase = "start", code = code, message = msg }
    return nil, msg, code
  end

  local plan
  local function finish(ok, m, c)
    local eok, emsg, ecode = session:close()
    if ok and not eok then ok, m, c = nil, emsg, ecode end
    emit { step = "ended", ok = ok and true or false, code = c, message = m }
    for _, k in ipairs { "progress", "fn", "sink" } do
      if raise[k] then error(raise[k][1], 0) end
    end
    if ok then return ok, plan end
    return nil, m, c, plan
  end

  local function count(t) return type(t) == "table" and #t or 0 end
  emit { step = "started", files = count(resources.files),
    processes = count(resources.processes),
    services = count(resources.services), dry_run = mode == "plan" or nil }
  local ok
  ok, msg, code = session:register(resources)
  if not ok then
    emit { step = "failed", phase = "register", code = code, message = msg }
    return finish(nil, msg, code)
  end
  local apps, reasons, uninspected = session:list()
  if not apps then
    emit { step = "failed", phase = "list", code = uninspected,
      message = reasons }
    return finish(nil, reasons, uninspected)
  end

  plan = policy.plan(pol, apps, reasons, uninspected)
  plan.dry_run = mode == "plan"
  if mode == "close" then
    plan.restart = 0
    for _, e in ipairs(plan.apps) do
      if e.action == "stop" then
        e.restart, e.restart_why = false, "closed: not restarted"
      end
    end
  end
  for _, e in ipairs(plan.apps) do
    emit(app_record("listed", e, { action = e.action, why = e.why }))
  end
  emit { step = "planned", stop = plan.stop, spare = plan.spare,
    restart = plan.restart,
    reboot_reasons = sorted_set(plan.reboot_reasons),
    uninspected = plan.uninspected, dry_run = plan.dry_run,
    refused = plan.refused }
  if mode == "plan" then return finish(true) end
  if plan.refused then
    emit { step = "refused", code = plan.refused_code,
      message = plan.refused }
    return finish(nil, plan.refused, plan.refused_code)
  end

  -- never-touch rules: a no_shutdown filter on each spared process
  local masked = core.app_status.shutdown_masked
  local spare, stopping = {}, {}
  for _, e in ipairs(plan.apps) do
    if e.action == "spare" and (e.status or 0) & masked == 0 then
      spare[#spare + 1] = { pid = e.pid, start_time = e.start_time }
    end
  end
  if #spare > 0 then
    ok, msg, code = session:filter { processes = spare, action = "no_shutdown" }
    if not ok then
      emit { step = "failed", phase = "filter", code = code, message = msg }
      return finish(nil, msg, code)
    end
  end
  for _, e in ipairs(plan.apps) do
    if e.action == "spare" then
      e.outcome = "spared"
      emit(app_record("spared", e, { why = e.why }))
    elseif e.action == "stop" then
      stopping[#stopping + 1] = e
      emit(app_record("stop_requested", e))
    end
  end

  local deadline_hit = false
  local function progress_for(phase)
    return function(p)
      if opts.progress then opts.progress(p, phase) end
      if phase ~= "restart" and past_deadline() then
        deadline_hit = true
        session:cancel()
      end
    end
  end
  -- marks what has stopped since the last look; returns what still runs
  local function sweep(outcome)
    local left = {}
    for _, e in ipairs(stopping) do
      if not e.outcome then
        if alive(e) then
          left[#left + 1] = e
        else
          e.outcome = outcome
          emit(app_record(outcome, e))
        end
      end
    end
    return left
  end

  local pok, sok, smsg, scode
  local timeout, shut = pol.timeout, false
  if deadline then
    timeout = math.max(0, math.min(timeout, deadline - monotime()))
  end
  if deadline and timeout <= 0 then
    -- no time left to stop anything: nothing is asked to
    deadline_hit = true
    pok, sok = true, nil
  else
    shut = true
    pok, sok, smsg, scode = pcall(session.shutdown, session, {
      timeout = timeout, only_registered = pol.only_registered,
      progress = progress_for("shutdown") })
  end
  local left = sweep("stopped")
  if pok and not sok and scode == core.error.ERROR_FAIL_SHUTDOWN
      and pol.force and #left > 0 and not past_deadline() then
    for _, e in ipairs(left) do emit(app_record("force_requested", e)) end
    pok, sok, smsg, scode = pcall(session.shutdown, session, {
      force = true, timeout = 0, progress = progress_for("force") })
    left = sweep("forced")
  end
  if not pok then
    raise.progress = { sok }
    sok, smsg, scode = nil, "the progress function raised an error",
      core.error.ERROR_CANCELLED
  elseif deadline and not sok and (deadline_hit or past_deadline()) then
    sok = nil
    smsg, scode = error_message("ERROR_CANCELLED",
      "the deadline of %g s passed before every application stopped",
      pol.deadline)
    emit { step = "cancelled", phase = "shutdown", reason = "deadline",
      code = scode, message = smsg }
  end
  if not sok then
    for _, e in ipairs(left) do
      e.outcome = "not_stopped"
      emit(app_record("failed", e, { phase = "shutdown", code = scode,
        message = smsg }))
    end
    if #left == 0 then
      emit { step = "failed", phase = "shutdown", code = scode,
        message = smsg }
    end
  end

  local fok = true
  if mode == "update" and sok then
    local ferr
    fok, ferr = pcall(fn, apps, plan)
    if fok then
      emit { step = "updated", ok = true }
    else
      raise.fn = { ferr }
      emit { step = "updated", ok = false, message = tostring(ferr) }
    end
  end

  local rok, rmsg, rcode = true, nil, nil
  if mode == "update" and shut then
    -- what did stop comes back, whatever happened since
    local rpok
    rpok, rok, rmsg, rcode = pcall(session.restart, session, {
      progress = progress_for("restart") })
    if not rpok then
      raise.progress = raise.progress or { rok }
      rok, rmsg, rcode = nil, "the progress function raised an error",
        core.error.ERROR_CANCELLED
    end
    local back = {}
    for _, e in ipairs(stopping) do
      if e.outcome == "stopped" or e.outcome == "forced" then
        if not e.restart then
          e.restart_outcome = "not_restarted"
          emit(app_record("not_restarted", e, { why = e.restart_why }))
        elseif rok then
          e.restart_outcome = "restarted"
          emit(app_record("restarted", e))
        else
          -- the backend says that some failed, not which
          e.restart_outcome = "unknown"
          back[#back + 1] = e.pid
        end
      end
    end
    if not rok then
      plan.restart_failed = rmsg
      emit { step = "failed", phase = "restart", code = rcode,
        message = rmsg, pids = back }
    end
  end

  if not sok then return finish(nil, smsg, scode) end
  if not fok then return finish(nil, tostring(raise.fn[1]),
    core.error.ERROR_CANCELLED) end
  if not rok then return finish(nil, rmsg, rcode) end
  return finish(true)
end

--- Runs the whole procedure around `fn`: starts a session, registers the
-- resources, lists who uses them, applies the policy (refuses when a
-- reboot would be needed; spares what the never-touch rules name), shuts
-- the others down, calls `fn(apps, plan)`, restarts what was shut down and
-- ends the session. The restart and the end happen even when `fn`, the
-- progress function or the log raise; the error is then raised again.
--
-- With `force`, an application that has not stopped after `timeout`
-- seconds is killed (a second shutdown, forced); the log tells the two
-- apart (`stopped`, `forced`).
--
-- `deadline` bounds the stopping: from the call until every application to
-- stop has stopped (the list, the polite wait and the forced kill). The
-- polite wait is cut to what is left of it, the running shutdown is
-- cancelled (`session:cancel()` from the progress function) once it has
-- passed, and no kill is sent after it. When it passes, `fn` is not
-- called, what did stop is restarted, and the result is
-- `nil, "ERROR_CANCELLED (1223): the deadline ...", 1223`. It does not
-- bound `fn` nor the restart (what was stopped always comes back), nor the
-- up to 5 s the native backend waits for killed processes to vanish.
-- Without luasystem (Debian: lua-system) the clock counts whole seconds.
--
-- @tparam table resources as for `Session:register`
-- @tparam function fn the update itself (replace the files here); it
-- receives the apps the list gave and the plan
-- @tparam[opt] table opts a policy (see `restartmanager.policy`: `never`,
-- `allow_reboot_reasons`, `only_registered`, `force`, `timeout`,
-- `deadline`) and `progress` (a function called with a percentage and the
-- phase: "shutdown", "force" or "restart"), `log` (a function or file
-- handle receiving one JSON line per step, see `restartmanager.log`),
-- `on_step` (a function called with each step's record, the table a log
-- line encodes), `dry_run` (stop nothing, return the plan; `fn` is not
-- called)
-- @treturn[1] true
-- @treturn[1] restartmanager.policy.Plan the plan with every app's
-- `outcome`
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code (350 when a reboot would be needed,
-- 351 when some did not stop, 1223 when the deadline passed)
-- @treturn[2] restartmanager.policy.Plan the plan, as far as it went
function M.update(resources, fn, opts)
  if not (opts and opts.dry_run) and not callable(fn) then
    error("bad argument #2 to 'update' (function expected, got "
      .. type(fn) .. ")", 2)
  end
  return procedure("update", resources, fn, opts)
end

--- Closes the applications that use the resources and leaves them closed:
-- the procedure of `update` without the update and without the restart.
-- @tparam table resources as for `Session:register`
-- @tparam[opt] table opts as for `update`
-- @treturn[1] true
-- @treturn[1] restartmanager.policy.Plan the plan with every app's
-- `outcome`
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
-- @treturn[2] restartmanager.policy.Plan the plan, as far as it went
function M.close(resources, opts)
  return procedure("close", resources, nil, opts)
end

--- The dry run: what `update` would do with these resources and this
-- policy, and why, stopping nothing. `tostring(plan)` prints it.
-- @tparam table resources as for `Session:register`
-- @tparam[opt] table opts as for `update`
-- @treturn[1] restartmanager.policy.Plan `refused` says whether the
-- update would refuse
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function M.plan(resources, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.dry_run = true
  local ok, plan_or_msg, code = procedure("plan", resources, nil, o)
  if not ok then return nil, plan_or_msg, code end
  return plan_or_msg
end

--- Starts a secondary installer and hands it the session key, through the
-- environment variable `RESTARTMANAGER_KEY` and the argument
-- `--restartmanager-key=KEY` appended to `cmd` (either can be turned off).
-- The program is started directly, with no shell: `cmd[1]` is looked up in
-- `PATH` when it has no slash. It inherits standard input, output and
-- error, and no other descriptor. POSIX only for now (the Windows build
-- has no `core.spawn`; there this raises).
--
-- The argument is visible to every user in the process list; that grants
-- them nothing (joining needs the primary's user), but `arg = false` keeps
-- the key out of it. Without `wait`, wait for the returned `Process` before
-- the primary ends its session: until then the ended secondary is a zombie
-- of the primary.
-- @tparam {string,...} cmd the program and its arguments
-- @tparam table opts `session` (a primary `Session`) or `key` (a string),
-- `env` (default true: set `RESTARTMANAGER_KEY`; false removes it from the
-- child's environment), `arg` (default true: append the argument), `wait`
-- (wait for it to end)
-- @treturn[1] Process without `wait`
-- @treturn[2] integer with `wait`: its exit status, or the signal that
-- ended it
-- @treturn[2] string "exit" or "signal"
-- @treturn[3] nil
-- @treturn[3] string message
-- @treturn[3] integer Win32 error code (2: the program was not found)
function M.spawn_secondary(cmd, opts)
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
    if getmetatable(opts.session) ~= Session then
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
  if not core.spawn then
    error("spawn_secondary is not available on the " .. core.backend
      .. " backend yet (POSIX only)", 2)
  end
  local argv = table.move(cmd, 1, #cmd, 1, {})
  if opts.arg ~= false then argv[#argv + 1] = M.KEY_OPTION .. key end
  local env = { [M.KEY_ENV] = false }
  if opts.env ~= false then env[M.KEY_ENV] = key end
  local pid, msg, code = core.spawn(argv, env)
  if not pid then return nil, msg, code end
  local proc = setmetatable({ pid = pid }, Process)
  if opts.wait then return proc:wait() end
  return proc
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

--- Registers resources with the session, in batches of `BATCH`.
-- @tparam table resources `files` (paths), `processes` (each a pid or a
-- `{pid=, start_time=}` table; a bare pid is resolved to the live process
-- now) and `services` (names), each optional
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Session:register(resources)
  if type(resources) ~= "table" then
    error("bad argument #1 to 'register' (table expected, got "
      .. type(resources) .. ")", 2)
  end
  local files = check_opt_array(resources.files, "files", 2)
  local services = check_opt_array(resources.services, "services", 2)
  local given = check_opt_array(resources.processes, "processes", 2)
  local processes = {}
  for i, p in ipairs(given) do
    if math.type(p) == "integer" then
      local proc, msg, code = core.process(p)
      if not proc then return nil, msg, code end
      processes[i] = proc
    else
      processes[i] = p
    end
  end
  local n = math.max(#files, #processes, #services)
  if n == 0 then return true end
  for i = 1, n, M.BATCH do
    local j = i + M.BATCH - 1
    local ok, msg, code = self.handle:register_resources(slice(files, i, j),
      slice(processes, i, j), slice(services, i, j))
    if not ok then return nil, msg, code end
  end
  return true
end

--- The applications and services that use the session's resources:
-- RmGetList in a loop that follows the list while it grows (at most
-- `LIST_TRIES` calls).
-- @treturn[1] {app,...} apps, each `{pid=, start_time=, name=, service=,
-- type=, status=, session_id=, restartable=}`
-- @treturn[1] table reboot reasons as a set of names
-- @treturn[1] integer how many processes could not be inspected (Linux:
-- other users' processes when not running as root); they may use the
-- files too
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Session:list()
  -- A first guess big enough for most lists saves a second scan; after an
  -- ERROR_MORE_DATA the list is asked for again with room to grow.
  local capacity = math.max(self.last_needed or 0, M.LIST_CAPACITY)
  local code, msg
  for _ = 1, M.LIST_TRIES do
    local apps, reasons, uninspected, needed = self.handle:get_list(capacity)
    if apps then
      self.last_needed = #apps
      return apps, M.reboot_reasons(reasons), uninspected
    end
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
-- `progress` (a function called with rising percentages)
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code (351 when some did not stop)
function Session:shutdown(opts)
  opts = check_opts(opts, "shutdown", 2)
  local flags = 0
  if opts.force then flags = flags | core.shutdown.force end
  if opts.only_registered then flags = flags | core.shutdown.only_registered end
  local timeout = opts.timeout or M.SHUTDOWN_TIMEOUT
  if type(timeout) ~= "number" or timeout < 0 then
    error("bad field 'timeout' (non-negative number of seconds expected)", 2)
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
  opts = check_opts(opts, "restart", 2)
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

--- Adds filters (primary only): `action` ("no_shutdown" keeps the apps
-- running, "no_restart" keeps them down after the shutdown) for every
-- target in `files`, `processes` (pids or `{pid=, start_time=}`) and
-- `services`. With `remove = true` the filters of those targets are removed
-- instead.
-- @tparam table spec
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function Session:filter(spec)
  spec = check_opts(spec, "filter", 2)
  if not spec.remove and spec.action ~= "no_shutdown"
      and spec.action ~= "no_restart" then
    error("bad field 'action' ('no_shutdown' or 'no_restart' expected)", 2)
  end
  for field, kind in pairs(FILTER_KINDS) do
    for _, target in ipairs(check_opt_array(spec[field], field, 2)) do
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
  return M.spawn_secondary(cmd, o)
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

M.Session = Session
M.Process = Process
M.policy = policy
M.log = log

return M
