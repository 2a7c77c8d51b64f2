--- restartmanager: close the programs that hold the files an installer must
-- replace, and bring them back afterwards.
--
-- The high-level layer over `restartmanager.core`, which is 1:1 with the
-- Restart Manager. Operations that fail return `nil, message, code` (`code`
-- is the Win32 error number on every platform); misuse raises.
--
-- This module is the facade: the work is done by `restartmanager.session`
-- (sessions, join by key, the list loop), `restartmanager.procedure`
-- (`update`, `close`, `plan`), `restartmanager.secondary`
-- (`spawn_secondary`), `restartmanager.policy` and `restartmanager.log`.
--
-- @module restartmanager
local core = require "restartmanager.core"
local session = require "restartmanager.session"
local errors = require "restartmanager.errors"

local M = {
  core = core,
  _VERSION = core._VERSION,
  --- Environment variable through which a primary installer hands its
  -- session key to the secondary installers it starts.
  KEY_ENV = session.KEY_ENV,
  --- Command-line option through which a primary installer may hand the
  -- key instead (`--restartmanager-key=KEY`).
  KEY_OPTION = session.KEY_OPTION,
  --- Every error name with its code: `core.error` and the codes the Lua
  -- layer adds (see `restartmanager.errors`).
  error = errors.codes,
  Session = session.Session,
}

-- The procedure (update, close, plan), the policy, the log and secondary
-- installers are loaded on first use: a program that only lists (who_uses)
-- does not pay for loading them. Each is then a plain field.
local function from(module, field)
  return function()
    local m = require("restartmanager." .. module)
    if field then return m[field] end
    return m
  end
end
local LAZY = {
  Process = from("secondary", "Process"),
  policy = from("policy"),
  log = from("log"),
  update = from("procedure", "update"),
  close = from("procedure", "close"),
  plan = from("procedure", "plan"),
  spawn_secondary = from("secondary", "spawn"),
}

-- The tunables live in the module that uses them; reading or setting them
-- here reads or sets them there.
local TUNABLES = { LIST_TRIES = session,
  LIST_CAPACITY = session, SHUTDOWN_TIMEOUT = session }

--- How many times `Session:list` calls RmGetList when the list keeps
-- growing between calls (6).
-- @field LIST_TRIES

--- The capacity `Session:list` asks for first (256).
-- @field LIST_CAPACITY

--- How long (seconds) a shutdown waits for applications to stop politely
-- before it gives up on them (or, with `force`, kills them) (30).
-- @field SHUTDOWN_TIMEOUT

setmetatable(M, {
  __index = function(t, k)
    local owner = TUNABLES[k]
    if owner then return owner[k] end
    local load = LAZY[k]
    if load then
      local v = load()
      rawset(t, k, v)
      return v
    end
  end,
  __newindex = function(t, k, v)
    local owner = TUNABLES[k]
    if owner then owner[k] = v else rawset(t, k, v) end
  end,
})

--- Starts a session; the caller is its primary installer.
-- @tparam[opt] table opts `private` (boolean): a session nobody can join
-- (its key joins nothing). On Linux its registrations stay in this process
-- and the session store is never touched, which makes it cheaper;
-- `who_uses` and `plan` use one.
-- @treturn[1] Session
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
-- @function start
M.start = session.start

--- The key a primary installer handed to this process: the
-- `--restartmanager-key=KEY` argument if given (in `args`, default the
-- global `arg`), else the `RESTARTMANAGER_KEY` environment variable.
-- @tparam[opt] {string,...} args
-- @treturn string|nil
-- @function handed_key
M.handed_key = session.handed_key

--- Joins a session as a secondary installer.
-- @tparam[opt] string key the session key; without it, the key handed to
-- this process (see `handed_key`)
-- @treturn[1] Session
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
-- @function join
M.join = session.join

--- Turns reboot reason bits into a set of names (`{}` when none).
-- @tparam integer bits
-- @treturn table e.g. `{detected_self = true}`
-- @function reboot_reasons
M.reboot_reasons = session.reboot_reasons

--- Who uses these files: starts a session, registers them, lists, ends.
-- Files that do not exist fail the call (`ERROR_FILE_NOT_FOUND`, 2, naming
-- them) unless `opts.allow_missing`.
-- @param resources a list of paths (or one path), or a resources table as
-- for `Session:register`
-- @tparam[opt] table opts `allow_missing`
-- @treturn[1] {app,...} apps
-- @treturn[1] table reboot reasons as a set of names
-- @treturn[1] integer processes that could not be inspected
-- @treturn[1] {integer,...} their pids
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
-- @function who_uses
M.who_uses = session.who_uses

--- Runs the whole procedure around `fn`: starts a session, registers the
-- resources, lists who uses them, applies the policy (refuses when a
-- reboot would be needed; spares what the never-touch rules name), shuts
-- the others down, calls `fn(apps, plan)`, restarts what was shut down and
-- ends the session. The restart and the end happen even when `fn`, the
-- progress function or the log raise; the error is then raised again.
-- `fn` may also fail by returning `false` or `nil, message`: what stopped
-- is restarted, and the result is `nil, "ERROR_INSTALL_FAILURE (1603): the
-- update function failed: message", 1603` (returning nothing, `nil` alone
-- or any other value is success).
--
-- Before anything is stopped it refuses: registered files that do not
-- exist (`ERROR_FILE_NOT_FOUND`, 2, naming them; `allow_missing` accepts
-- them), and, for a caller that is not root, processes that could not be
-- inspected (`ERROR_PRIVILEGE_NOT_HELD`, 1314, with their pids;
-- `allow_uninspected` accepts them). For root, processes hidden even from
-- root (a container's init) are a `warning` step of the log. Either way
-- their pids are the plan's `uninspected_pids`.
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
-- Programs that never registered for restart stay down unless
-- `restart_unregistered` covers them: they are then brought back from what
-- was captured before the stop. On Linux as their own user, detached from
-- the caller and outside its cgroup (in the user's systemd manager where
-- there is one), never when they are set-ID programs, run in another PID
-- or mount namespace, or have a controlling terminal. On Windows from their
-- command line as captured, with their environment and current directory,
-- outside the caller's job where it may be left, never when they are
-- services, run as another user, or were not elevated while the caller is.
-- What stayed down is `plan.down` (each with `down_why`); the result is
-- still true.
--
-- Programs someone works in on a terminal (their standard input, output or
-- error is their controlling terminal) are not stopped without asking:
-- with the default `terminal_apps = "ask"` the `ask` function decides, and
-- without one they are spared (their files stay held).
--
-- @tparam table resources as for `Session:register` (`files`,
-- `processes`, `services`; anything else raises, a bare list of paths
-- included)
-- @tparam function fn the update itself (replace the files here); it
-- receives the apps the list gave and the plan
-- @tparam[opt] table opts a policy (see `restartmanager.policy`: `never`,
-- `allow_reboot_reasons`, `only_registered`, `force`, `timeout`,
-- `deadline`, `allow_missing`, `allow_uninspected`,
-- `restart_unregistered`, `terminal_apps`) and `progress` (a function
-- called with a percentage and the phase: "shutdown", "force" or
-- "restart"), `log` (a function or file handle receiving one JSON line per
-- step, see `restartmanager.log`), `on_step` (a function called with each
-- step's record, the table a log line encodes), `dry_run` (stop nothing,
-- return the plan; `fn` is not called), `ask` (a function called with the
-- plan entries of the programs that have a terminal and the plan, before
-- anything is stopped: true stops them, anything else spares them)
-- @treturn[1] true
-- @treturn[1] restartmanager.policy.Plan the plan with every app's
-- `outcome` and `restart_outcome`, and `down`
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code (2 when a file does not exist, 350
-- when a reboot would be needed, 351 when some did not stop, 1223 when the
-- deadline passed, 1314 when processes could not be inspected, 1603 when
-- `fn` returned a failure)
-- @treturn[2] restartmanager.policy.Plan the plan, as far as it went
-- @function update

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
-- @function close

--- The dry run: what `update` would do with these resources and this
-- policy, and why, stopping nothing. `tostring(plan)` prints it.
-- @tparam table resources as for `Session:register`
-- @tparam[opt] table opts as for `update`
-- @treturn[1] restartmanager.policy.Plan `refused` says whether the
-- update would refuse
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
-- @function plan

--- Starts a secondary installer and hands it the session key, through the
-- environment variable `RESTARTMANAGER_KEY` and the argument
-- `--restartmanager-key=KEY` appended to `cmd` (either can be turned off).
-- The program is started directly, with no shell: `cmd[1]` is looked up in
-- `PATH` when it has no slash. It inherits standard input, output and
-- error, and no other descriptor, on POSIX and on Windows alike.
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
-- @function spawn_secondary

--- Registers the calling program for restart: after an installer stopped
-- it, it is started again with these arguments (after the executable's
-- name), its working directory and environment of now, as its user
-- (RegisterApplicationRestart on Windows; the per-user store on Linux).
-- The registration lasts as long as the process; calling again replaces
-- it. A program that cannot call this can be started through
-- `restartmanager launch -- PROGRAM ARGS...`.
-- @tparam[opt] {string,...} args the arguments to restart with (default
-- none)
-- @tparam[opt] table|integer flags `{no_crash=, no_hang=, no_patch=,
-- no_reboot=}` (booleans; `no_patch` keeps it down after an update) or
-- the bits of `restartmanager.core.restart`
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function M.register_restart(args, flags)
  if args ~= nil and type(args) ~= "table" then
    error("bad argument #1 to 'register_restart' (table expected, got "
      .. type(args) .. ")", 2)
  end
  local bits = 0
  if type(flags) == "table" then
    for k, v in pairs(flags) do
      local bit = core.restart[k]
      if type(k) ~= "string" or math.type(bit) ~= "integer" then
        error(("bad argument #2 to 'register_restart' (unknown flag '%s')")
          :format(tostring(k)), 2)
      end
      if v then bits = bits | bit end
    end
  elseif math.type(flags) == "integer" then
    bits = flags
  elseif flags ~= nil then
    error("bad argument #2 to 'register_restart' (table or integer "
      .. "expected, got " .. type(flags) .. ")", 2)
  end
  return core.register_application_restart(args or {}, bits)
end

--- Removes the calling program's restart registration.
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function M.unregister_restart()
  return core.unregister_application_restart()
end

--- Brings back what a primary installer that died stopped (Linux). A
-- shutdown records what it stops before its first signal; when the
-- primary dies before its restart, what it stopped stays down until a
-- session of the same user sweeps the store (every `start` and `join`
-- does, silently). This sweeps it now and says what it started again: the
-- applications as their users, the services through systemd. It acts on
-- the calling user's store only (root's for root). On Windows it fails
-- with `ERROR_NOT_SUPPORTED` (50): the Restart Manager keeps no such
-- record.
-- @treturn[1] {table,...} what was started again, services first: `{exe=,
-- pid=, start_time=, uid=, new_pid=, started=}` for an application (`pid`
-- and `start_time` of the process that was stopped, `new_pid` of the new
-- one, 0 when not known), `{service=, uid=, started=}` for a service;
-- `started` is false when its start failed. Empty when nothing was down.
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] integer Win32 error code
function M.recover()
  return core.recover()
end

return M
