--- The procedure behind `restartmanager.update`, `restartmanager.close`
-- and `restartmanager.plan`: a sequence of small named steps over one state
-- table.
--
-- The steps, in order (`sequence`), each a function of `steps` taking the
-- state and returning whether the procedure goes on:
--
-- * `files`: refuse registered files that do not exist (unless
--   `allow_missing`)
-- * `start`: start a session
-- * `register`: register the resources
-- * `list`: list who uses them
-- * `capture`: read, before anything is stopped, what restarting each
--   application needs when it never registered (`core.capture`),
--   and whether someone works in it on a terminal
-- * `plan`: apply the policy; warn about processes that could not be
--   inspected when that is no reason to refuse
-- * `check`: refuse before stopping anything (a refused plan); the dry run
--   ends here
-- * `ask`: ask the `ask` function about applications someone works in on
--   a terminal (`terminal_apps = "ask"`); those it does not confirm, and
--   all of them when there is no `ask` function, are spared
-- * `spare`: keep the spared applications running (`no_shutdown` filters)
-- * `shutdown`: ask the others to stop, within the timeout and deadline
-- * `force`: kill what did not stop, when the policy says so
-- * `settle`: the outcome of the stopping
-- * `update`: call the update function (only when everything stopped); it
--   fails the procedure by raising or by returning `false` or
--   `nil, message`
-- * `restart`: restart what stopped (always, once anything was asked to
--   stop)
-- * `restart_captured`: bring back, from their capture, the programs that
--   never registered and that `restart_unregistered` covers: through their
--   systemd unit, their desktop application id or their command line (on
--   Windows, their command line)
-- * `tally`: what was stopped and did not come back (`plan.down`)
--
-- Then `report` ends the session and gives the result. Steps up to `spare`
-- may end the procedure early (nothing has been stopped then); from
-- `shutdown` on, every step runs, so that what stopped always comes back.
-- The first failure (`fail`) is the procedure's result.
--
-- The state: `mode` ("update", "close" or "plan"), `resources`, `fn`,
-- `opts`, `pol` (the policy), `session`, `apps`, `reasons`, `uninspected`,
-- `uninspected_pids`, `missing` (accepted missing files),
-- `plan`, `stopping` (the plan's entries asked to stop), `left` (those
-- still running), `shut` (a shutdown was asked), `stop` (the shutdown's
-- result: `ok`, `msg`, `code`, `raised`), `deadline` (on the monotonic
-- clock), `deadline_hit`, `failure` (`{message, code}`), `raised` (the
-- first error of the `progress` function, of `fn` and of the log, raised
-- at the end).
--
-- @module restartmanager.procedure
-- @alias R
local core = require "restartmanager.core"
local policy = require "restartmanager.policy"
local log = require "restartmanager.log"
local session = require "restartmanager.session"
local check = require "restartmanager.check"
local errors = require "restartmanager.errors"
local paths = require "restartmanager.paths"

local R = {}

--- The options the procedure takes besides a policy's.
R.OPTIONS = { progress = true, log = true, dry_run = true, on_step = true,
  ask = true }

local monotime = policy.monotime

-- Whether the process a plan entry names still runs (`core.running`: the
-- same pid and start time, and not a zombie). When that cannot be told, it
-- counts as running: nothing is reported stopped that may not have.
local function running(e)
  local r = core.running { pid = e.pid, start_time = e.start_time }
  return r ~= false
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


local function count(t) return type(t) == "table" and #t or 0 end

--- Sends a step's record to `on_step` and the log. The log never
-- interrupts the procedure: its first error is raised at the end, and
-- nothing is logged after it.
-- @tparam table st the state
-- @tparam table rec the record (`time` is added)
function R.emit(st, rec)
  if st.raised.sink then return end
  rec.time = log.now()
  local ok, err = true, nil
  if st.on_step then ok, err = pcall(st.on_step, rec) end
  if ok and st.sink then ok, err = pcall(st.sink, rec) end
  if not ok then st.raised.sink = { err } end
end
local emit = R.emit

--- Records a failure (the first one is the result) and says to stop.
-- @tparam table st
-- @tparam string msg
-- @tparam integer code
-- @treturn boolean false
function R.fail(st, msg, code)
  st.failure = st.failure or { msg, code }
  return false
end
local fail = R.fail

local function past_deadline(st)
  return st.deadline ~= nil and monotime() >= st.deadline
end

-- The progress function handed to the core for one phase: the caller's,
-- and the deadline's cancel.
local function progress_for(st, phase)
  local user = st.opts.progress
  return function(p)
    if user and phase == "restart" then
      -- an error of the caller's function never stops the restart: what
      -- stopped comes back, and the error is raised at the end
      local ok, err = pcall(user, p, phase)
      if not ok then st.raised.progress = st.raised.progress or { err } end
    elseif user then
      user(p, phase)
    end
    if phase ~= "restart" and past_deadline(st) then
      st.deadline_hit = true
      st.session:cancel()
    end
  end
end

-- Calls a session method whose progress function may raise: the error is
-- kept for the end, and the call fails with ERROR_CANCELLED.
local function guarded(st, method, opts)
  local pok, ok, msg, code = pcall(method, st.session, opts)
  if pok then return { ok = ok, msg = msg, code = code } end
  st.raised.progress = st.raised.progress or { ok }
  return { raised = true, msg = "the progress function raised an error",
    code = core.error.ERROR_CANCELLED }
end

-- Marks what has stopped since the last look; returns what still runs.
local function sweep(st, outcome)
  local left = {}
  for _, e in ipairs(st.stopping) do
    if not e.outcome then
      if running(e) then
        left[#left + 1] = e
      else
        e.outcome = outcome
        emit(st, app_record(outcome, e))
      end
    end
  end
  return left
end

--- The steps, by name (see the module's description).
R.steps = {}
local step = R.steps

function step.files(st)
  local missing = paths.missing(st.resources.files or {})
  if #missing == 0 then return true end
  if st.pol.allow_missing then
    st.missing = missing
    return true
  end
  local msg, code = session.missing_message(missing)
  emit(st, { step = "failed", phase = "files", code = code, message = msg,
    missing = missing })
  return fail(st, msg, code)
end

function step.start(st)
  -- a plan's session is never joined
  local s, msg, code = session.start { private = st.mode == "plan" }
  if not s then
    emit(st, { step = "failed", phase = "start", code = code, message = msg })
    return fail(st, msg, code)
  end
  st.session = s
  return true
end

function step.register(st)
  local r = st.resources
  emit(st, { step = "started", files = count(r.files),
    processes = count(r.processes), services = count(r.services),
    dry_run = st.mode == "plan" or nil })
  local ok, msg, code = st.session:register(r)
  if not ok then
    emit(st, { step = "failed", phase = "register", code = code,
      message = msg })
    return fail(st, msg, code)
  end
  return true
end

function step.list(st)
  local apps, reasons, uninspected, pids = st.session:list()
  if not apps then
    emit(st, { step = "failed", phase = "list", code = uninspected,
      message = reasons })
    return fail(st, reasons, uninspected)
  end
  st.apps, st.reasons, st.uninspected = apps, reasons, uninspected
  st.uninspected_pids = pids
  return true
end

function step.capture(st)
  st.captures = {}
  if not core.capture then return true end
  for _, a in ipairs(st.apps) do
    if a.type ~= "critical" then
      local c, msg = core.capture { pid = a.pid, start_time = a.start_time }
      st.captures[a.pid] = c or msg
      if c and st.pol.restart_unregistered and not a.restartable then
        emit(st, app_record("captured", a,
          { captured = policy.captured(c) }))
      end
    end
  end
  return true
end

function step.plan(st)
  local privileged = core.backend_info().privileged
  local plan = policy.plan(st.pol, st.apps, st.reasons, st.uninspected, {
    uninspected_pids = st.uninspected_pids, privileged = privileged,
    missing = st.missing, captures = st.captures })
  st.plan = plan
  plan.dry_run = st.mode == "plan"
  if st.mode == "close" then
    plan.restart = 0
    for _, e in ipairs(plan.apps) do
      if e.action == "stop" then
        e.restart, e.restart_why = false, "closed: not restarted"
      end
    end
  end
  for _, e in ipairs(plan.apps) do
    emit(st, app_record("listed", e, { action = e.action, why = e.why }))
  end
  -- processes that could not be inspected and are no reason to refuse
  if plan.uninspected > 0 and (privileged or st.pol.allow_uninspected) then
    emit(st, { step = "warning", reason = "uninspected",
      uninspected = plan.uninspected, pids = plan.uninspected_pids,
      message = policy.uninspected_text(plan.uninspected,
        plan.uninspected_pids, "files") .. (privileged and "; hidden even "
        .. "from root" or "; accepted by allow_uninspected") })
  end
  emit(st, { step = "planned", stop = plan.stop, spare = plan.spare,
    restart = plan.restart,
    reboot_reasons = policy.sorted_names(plan.reboot_reasons),
    uninspected = plan.uninspected, uninspected_pids = plan.uninspected_pids,
    missing = #plan.missing > 0 and plan.missing or nil,
    dry_run = plan.dry_run, refused = plan.refused })
  return true
end

function step.check(st)
  local plan = st.plan
  if st.mode == "plan" then return false end
  if plan.refused then
    emit(st, { step = "refused", code = plan.refused_code,
      message = plan.refused })
    return fail(st, plan.refused, plan.refused_code)
  end
  return true
end

function step.ask(st)
  local asked = {}
  for _, e in ipairs(st.plan.apps) do
    if e.action == "stop" and e.ask then asked[#asked + 1] = e end
  end
  if #asked == 0 then return true end
  local yes, answered = false, false
  if st.opts.ask ~= nil then
    local ok, res = pcall(st.opts.ask, asked, st.plan)
    if not ok then
      st.raised.fn = st.raised.fn or { res }
      emit(st, { step = "failed", phase = "ask", message = tostring(res) })
      return fail(st, "the ask function raised an error: " .. tostring(res),
        core.error.ERROR_CANCELLED)
    end
    yes, answered = res == true, true
  end
  local pids = {}
  for _, e in ipairs(asked) do
    pids[#pids + 1] = e.pid
    e.ask = nil
    if yes then
      e.why = e.why:gsub(" %(asks first%)$", " (confirmed)")
    else
      e.action = "spare"
      e.why = "has a terminal: unsaved work may be lost; "
        .. (answered and "not confirmed" or "not stopped without asking")
      st.plan.stop, st.plan.spare = st.plan.stop - 1, st.plan.spare + 1
      if e.restart then st.plan.restart = st.plan.restart - 1 end
      e.restart, e.restart_via, e.restart_why = false, nil, "not stopped"
      e.force = false
    end
  end
  emit(st, { step = "asked", pids = pids, answered = answered,
    stop = yes })
  return true
end

function step.spare(st)
  local masked = core.app_status.shutdown_masked
  local spare = {}
  for _, e in ipairs(st.plan.apps) do
    if e.action == "spare" and (e.status or 0) & masked == 0 then
      spare[#spare + 1] = { pid = e.pid, start_time = e.start_time }
    end
  end
  if #spare > 0 then
    local ok, msg, code = st.session:filter { processes = spare,
      action = "no_shutdown" }
    if not ok then
      emit(st, { step = "failed", phase = "filter", code = code,
        message = msg })
      return fail(st, msg, code)
    end
  end
  st.stopping = {}
  for _, e in ipairs(st.plan.apps) do
    if e.action == "spare" then
      e.outcome = "spared"
      emit(st, app_record("spared", e, { why = e.why }))
    elseif e.action == "stop" then
      st.stopping[#st.stopping + 1] = e
      emit(st, app_record("stop_requested", e))
    end
  end
  return true
end

function step.shutdown(st)
  local timeout = st.pol.timeout
  if st.deadline then
    timeout = math.max(0, math.min(timeout, st.deadline - monotime()))
  end
  if st.deadline and timeout <= 0 then
    -- no time left to stop anything: nothing is asked to
    st.deadline_hit = true
    st.stop = {}
  else
    st.shut = true
    st.stop = guarded(st, st.session.shutdown, { timeout = timeout,
      only_registered = st.pol.only_registered,
      progress = progress_for(st, "shutdown") })
  end
  st.left = sweep(st, "stopped")
  return true
end

function step.force(st)
  local s = st.stop
  if s.ok or s.raised or s.code ~= core.error.ERROR_FAIL_SHUTDOWN
      or not st.pol.force or #st.left == 0 or past_deadline(st) then
    return true
  end
  for _, e in ipairs(st.left) do emit(st, app_record("force_requested", e)) end
  st.stop = guarded(st, st.session.shutdown, { force = true, timeout = 0,
    progress = progress_for(st, "force") })
  st.left = sweep(st, "forced")
  return true
end

function step.settle(st)
  local s = st.stop
  if not s.ok and not s.raised and st.deadline
      and (st.deadline_hit or past_deadline(st)) then
    s.msg, s.code = errors.message("ERROR_CANCELLED",
      "the deadline of %g s passed before every application stopped",
      st.pol.deadline)
    emit(st, { step = "cancelled", phase = "shutdown", reason = "deadline",
      code = s.code, message = s.msg })
  end
  if s.ok then return true end
  for _, e in ipairs(st.left) do
    e.outcome = "not_stopped"
    emit(st, app_record("failed", e, { phase = "shutdown", code = s.code,
      message = s.msg }))
  end
  if #st.left == 0 then
    emit(st, { step = "failed", phase = "shutdown", code = s.code,
      message = s.msg })
  end
  fail(st, s.msg, s.code)
  return true
end

function step.update(st)
  if st.mode ~= "update" or st.failure then return true end
  local r = table.pack(pcall(st.fn, st.apps, st.plan))
  if not r[1] then
    st.raised.fn = { r[2] }
    emit(st, { step = "updated", ok = false, message = tostring(r[2]) })
    fail(st, tostring(r[2]), core.error.ERROR_CANCELLED)
  elseif r[2] == false or (r[2] == nil and r[3] ~= nil) then
    -- the update said it failed: false, or nil and a message
    local msg, code = errors.message("ERROR_INSTALL_FAILURE",
      "the update function failed: %s",
      r[3] ~= nil and tostring(r[3]) or "it returned false")
    emit(st, { step = "updated", ok = false, code = code, message = msg })
    fail(st, msg, code)
  else
    emit(st, { step = "updated", ok = true })
  end
  return true
end

function step.restart(st)
  if st.mode ~= "update" or not st.shut then return true end
  -- what did stop comes back, whatever happened since
  local r = guarded(st, st.session.restart,
    { progress = progress_for(st, "restart") })
  local back = {}
  for _, e in ipairs(st.stopping) do
    if (e.outcome == "stopped" or e.outcome == "forced")
        and not e.restart_via and not e.with_parent then
      if not e.restart then
        e.restart_outcome = "not_restarted"
        emit(st, app_record("not_restarted", e, { why = e.restart_why }))
      elseif r.ok then
        e.restart_outcome = "restarted"
        emit(st, app_record("restarted", e))
      else
        -- the backend says that some failed, not which
        e.restart_outcome = "unknown"
        back[#back + 1] = e.pid
      end
    end
  end
  if not r.ok then
    st.plan.restart_failed = r.msg
    emit(st, { step = "failed", phase = "restart", code = r.code,
      message = r.msg, pids = back })
    fail(st, r.msg, r.code)
  end
  return true
end

--- The programs that can start a desktop application by its id, in the
-- order they are tried: `gio launch FILE` (FILE: ID.desktop in the
-- `applications` folder of `XDG_DATA_HOME` and `XDG_DATA_DIRS` of the
-- program's environment), `gtk-launch ID`.
R.DESKTOP_LAUNCHERS = { { "/usr/bin/gio", "launch", "%file" },
  { "/usr/bin/gtk-launch", "%id" } }

local function env_of(c)
  local env = {}
  for _, e in ipairs(c.env or {}) do
    local k, v = e:match("^([^=]*)=(.*)$")
    if k and env[k] == nil then env[k] = v end
  end
  return env
end

local function readable(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

--- The desktop file of a captured program's application id, looked up as
-- its desktop would (its environment's `XDG_DATA_HOME`, or `~/.local/share`,
-- then `XDG_DATA_DIRS`, or `/usr/local/share:/usr/share`).
-- @tparam table c a capture
-- @treturn string|nil
function R.desktop_file(c)
  if not c.app_id or c.app_id:find("/", 1, true) then return nil end
  local env = env_of(c)
  local dirs = {}
  local home = env.XDG_DATA_HOME
  if not home or home == "" then
    home = env.HOME and env.HOME ~= "" and (env.HOME .. "/.local/share")
  end
  if home then dirs[#dirs + 1] = home end
  local data = env.XDG_DATA_DIRS
  if not data or data == "" then data = "/usr/local/share:/usr/share" end
  for d in data:gmatch("[^:]+") do dirs[#dirs + 1] = d end
  for _, d in ipairs(dirs) do
    local f = d .. "/applications/" .. c.app_id .. ".desktop"
    if f:sub(1, 1) == "/" and readable(f) then return f end
  end
  return nil
end

-- The command that starts c through its desktop id, or nil and why not.
local function desktop_command(c)
  local file = R.desktop_file(c)
  if not file then
    return nil, "no desktop file for " .. tostring(c.app_id)
  end
  for _, l in ipairs(R.DESKTOP_LAUNCHERS) do
    if readable(l[1]) then
      local cmd = {}
      for i, w in ipairs(l) do
        cmd[i] = w == "%file" and file or w == "%id" and c.app_id or w
      end
      return cmd
    end
  end
  return nil, "neither gio nor gtk-launch is installed"
end

-- Starts one captured program by the way the plan chose, falling back to
-- its command line: pid, how, via (or nil, message, code).
local function restart_one(e)
  local c, via, notes = e.capture, e.restart_via, {}
  if via == "unit" then
    local pid, how = core.restart_captured(c, { via = "unit" })
    if pid then return pid, how, "unit" end
    notes[#notes + 1] = "its unit did not start: " .. tostring(how)
    via = c.app_id and "desktop" or "command"
  end
  if via == "desktop" then
    local again = core.running_again(c)
    if again then return again, "running", "desktop" end
    local cmd, why = desktop_command(c)
    if cmd then
      -- detached, not as a service of the user's manager: the launcher
      -- leaves at once, and the service would take the program with it
      local pid, how = core.restart_captured(c, { command = cmd,
        manager = false })
      if pid then return pid, how, "desktop" end
      why = how
    end
    notes[#notes + 1] = "its desktop application id did not do: "
      .. tostring(why)
  end
  local pid, how, code = core.restart_captured(c)
  if pid then return pid, how, "command", notes end
  if #notes > 0 then how = how .. " (" .. table.concat(notes, "; ") .. ")" end
  return nil, how, code
end

function step.restart_captured(st)
  if st.mode ~= "update" or not st.shut then return true end
  local failed
  for i = #st.stopping, 1, -1 do
    local e = st.stopping[i]
    if (e.outcome == "stopped" or e.outcome == "forced") and e.restart_via then
      local pid, how, via = restart_one(e)
      if pid then
        e.restart_outcome = how == "running" and "already_running"
          or "restarted"
        e.restarted_pid, e.restarted_how, e.restart_via = pid, how, via
        emit(st, app_record(e.restart_outcome, e, { via = via, how = how,
          new_pid = pid }))
      else
        e.restart_outcome = "failed"
        e.down_why = "could not be restarted: " .. tostring(how)
        emit(st, app_record("failed", e, { phase = "restart", code = via,
          message = how }))
        failed = failed or { how, via }
      end
    end
  end
  -- a child comes back with its parent
  local by_pid = {}
  for _, e in ipairs(st.stopping) do by_pid[e.pid] = e end
  for _, e in ipairs(st.stopping) do
    if e.with_parent and (e.outcome == "stopped" or e.outcome == "forced") then
      local parent = by_pid[e.with_parent]
      local back = parent and (parent.restart_outcome == "restarted"
        or parent.restart_outcome == "already_running")
      e.restart_outcome = back and "with_parent" or "not_restarted"
      if not back then
        e.down_why = ("its parent, pid %d, did not come back")
          :format(e.with_parent)
      end
      emit(st, app_record(e.restart_outcome, e, { parent = e.with_parent }))
    end
  end
  if failed then
    local msg = errors.message("ERROR_FAIL_RESTART",
      "some programs could not be restarted from their capture: %s",
      tostring(failed[1]))
    fail(st, msg, core.error.ERROR_FAIL_RESTART)
  end
  return true
end

local BACK = { restarted = true, already_running = true, with_parent = true }

function step.tally(st)
  if not st.shut then return true end
  local down = {}
  for _, e in ipairs(st.stopping) do
    if (e.outcome == "stopped" or e.outcome == "forced")
        and not BACK[e.restart_outcome] then
      e.down_why = e.down_why or e.restart_why
      down[#down + 1] = e
    end
  end
  st.plan.down = down
  if #down > 0 then
    local pids = {}
    for i, e in ipairs(down) do pids[i] = e.pid end
    emit(st, { step = "down", count = #down, pids = pids })
  end
  return true
end

--- The order the steps run in (names of `steps`).
R.sequence = { "files", "start", "register", "list", "capture", "plan",
  "check", "ask", "spare", "shutdown", "force", "settle", "update",
  "restart", "restart_captured", "tally" }

--- Ends the session and gives the procedure's result; raises the first
-- error of the progress function, of `fn` or of the log, in that order.
-- @tparam table st
-- @treturn[1] true
-- @treturn[1] restartmanager.policy.Plan
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer code
-- @treturn[2] restartmanager.policy.Plan|nil the plan, as far as it went
function R.report(st)
  local ok, msg, code = true, nil, nil
  if st.failure then ok, msg, code = nil, st.failure[1], st.failure[2] end
  if st.session then
    local eok, emsg, ecode = st.session:close()
    if ok and not eok then ok, msg, code = nil, emsg, ecode end
    emit(st, { step = "ended", ok = ok and true or false, code = code,
      message = msg })
  end
  for _, k in ipairs { "progress", "fn", "sink" } do
    if st.raised[k] then error(st.raised[k][1], 0) end
  end
  if ok then return true, st.plan end
  return nil, msg, code, st.plan
end

--- The state a procedure starts from; raises on misuse.
-- @tparam string mode "update", "close" or "plan"
-- @tparam table resources
-- @tparam function|nil fn
-- @tparam table|nil opts
-- @tparam integer level as for `error`, from the caller of `new`
-- @treturn table
function R.new(mode, resources, fn, opts, level)
  level = level + 1
  check.resources(resources, mode, level)
  local pol = policy.new(opts, R.OPTIONS, level)
  opts = opts or {}
  if opts.timeout == nil then pol.timeout = session.SHUTDOWN_TIMEOUT end
  check.opt_function(opts.progress, "progress", level)
  check.opt_function(opts.on_step, "on_step", level)
  if mode == "update" and opts.dry_run then mode = "plan" end
  local st = { mode = mode, resources = resources, fn = fn, opts = opts,
    pol = pol, sink = log.sink(opts.log, level), on_step = opts.on_step,
    raised = {}, stopping = {}, left = {} }
  if pol.deadline then st.deadline = monotime() + pol.deadline end
  return st
end

--- Runs the steps of `sequence`, then `report`. The session is ended even
-- when a step raises.
-- @tparam table st from `new`
-- @return as `report`
function R.run(st)
  local _ <close> = setmetatable({}, { __close = function()
    if st.session then st.session:close() end
  end })
  for _, name in ipairs(R.sequence) do
    if not R.steps[name](st) then break end
  end
  return R.report(st)
end

--- See `restartmanager.update`.
function R.update(resources, fn, opts)
  if not (opts and opts.dry_run) and not check.callable(fn) then
    error("bad argument #2 to 'update' (function expected, got "
      .. type(fn) .. ")", 2)
  end
  return R.run(R.new("update", resources, fn, opts, 2))
end

--- See `restartmanager.close`.
function R.close(resources, opts)
  return R.run(R.new("close", resources, nil, opts, 2))
end

--- See `restartmanager.plan`.
function R.plan(resources, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.dry_run = true
  local ok, plan_or_msg, code = R.run(R.new("plan", resources, nil, o, 2))
  if not ok then return nil, plan_or_msg, code end
  return plan_or_msg
end

return R
