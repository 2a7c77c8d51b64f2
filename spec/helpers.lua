-- Helpers shared by the specs: child processes, the session store, users.
-- Returned as a module; nothing is set globally.
local H = {}

H.LUA = os.getenv("RM_LUA") or "lua5.4"
H.BUILD = os.getenv("RM_BUILD") or "build"
-- the source tree; RM_ROOT when the build is elsewhere (build/asan)
H.ROOT = os.getenv("RM_ROOT") or H.BUILD:gsub("/build$", "")

-- Quotes s for the POSIX shell.
function H.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a shell command; returns its standard output and exit code.
function H.sh(cmd)
  local f = assert(io.popen(cmd .. "; echo \"::rc=$?\"", "r"))
  local out = f:read("a")
  f:close()
  local body, rc = out:match("^(.-)::rc=(%d+)%s*$")
  return body, tonumber(rc)
end

function H.tmpdir()
  local out = H.sh("mktemp -d")
  return (out:gsub("%s+$", ""))
end

function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function H.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- The Lua path a child needs to find the project's modules.
function H.lua_env()
  return "LUA_PATH=" .. H.q(H.ROOT .. "/lua/?.lua;" .. H.ROOT
      .. "/lua/?/init.lua;;")
    .. " LUA_CPATH=" .. H.q(H.BUILD .. "/?.so;;")
end

-- Runs Lua code in a child process to completion: stdout, exit code.
-- opts.env: extra "NAME=value" words; opts.prefix: words before the
-- interpreter (e.g. to change user).
function H.lua(code, opts)
  opts = opts or {}
  return H.sh("env " .. H.lua_env() .. " " .. (opts.env or "") .. " "
    .. (opts.prefix or "") .. " " .. H.LUA .. " -e " .. H.q(code)
    .. " 2>&1")
end

-- Runs the command-line tool (bin/restartmanager) with the words args (a
-- shell string): its standard output, standard error and exit status.
-- opts.pre: Lua code run before the tool (lua -e); opts.env: extra
-- "NAME=value" words, opts.prefix: words before the interpreter, opts.lua_env:
-- the words that find the modules (default H.lua_env()), opts.bin: the
-- script.
function H.cli(args, opts)
  opts = opts or {}
  local errfile = os.tmpname()
  local out, rc = H.sh("env " .. (opts.lua_env or H.lua_env()) .. " "
    .. (opts.env or "") .. " " .. (opts.prefix or "") .. " " .. H.LUA
    .. (opts.pre and (" -e " .. H.q(opts.pre)) or "") .. " "
    .. H.q(opts.bin or (H.ROOT .. "/bin/restartmanager")) .. " " .. args
    .. " 2>" .. H.q(errfile) .. " </dev/null")
  local err = H.read(errfile) or ""
  os.remove(errfile)
  return out, err, rc
end

-- How long a spec waits for an event before it gives up. Generous: the
-- specs run on loaded machines, and a wait ends as soon as its event comes.
H.WAIT = 60

-- Waits until fn() returns a true value, and returns that value; polls
-- (every 10 ms at first, then less often) for at most `seconds` (default
-- H.WAIT), then raises an error naming what was awaited (what: a string,
-- or a function that returns one, called then).
function H.wait_for(fn, what, seconds)
  local deadline = os.time() + (seconds or H.WAIT)
  local step = 0.01
  while true do
    local v = fn()
    if v then return v end
    if os.time() > deadline then
      if type(what) == "function" then what = what() end
      error(("gave up after %d s waiting for %s"):format(seconds or H.WAIT,
        tostring(what)), 2)
    end
    H.sh("sleep " .. step)
    step = math.min(step * 1.5, 0.1)
  end
end

-- The start time of process pid (field 22 of /proc/PID/stat, in clock
-- ticks since boot), or nil when no such process exists. A pid and its
-- start time name one process: a pid handed out again gets another start
-- time.
function H.start_time(pid)
  local stat = H.read("/proc/" .. pid .. "/stat")
  -- after the name (which may hold spaces and parentheses), from field 3
  local rest = stat and stat:match("^.*%) (.*)$")
  if not rest then return nil end
  local i = 2
  for word in rest:gmatch("%S+") do
    i = i + 1
    if i == 22 then return tonumber(word) end
  end
  return nil
end

-- Sends signal sig (a name: "KILL", "TERM"...) to the process pid only if
-- it is still the process that started at start_time (H.start_time): a pid
-- freed and handed to another program meanwhile is left alone. Returns
-- whether the signal was sent.
function H.signal(pid, start_time, sig)
  if not start_time or H.start_time(pid) ~= start_time then return false end
  local _, rc = H.sh("kill -" .. (sig or "KILL") .. " " .. pid .. " 2>/dev/null")
  return rc == 0
end

-- Kills the process pid that started at start_time (H.signal); with KILL
-- (the default) waits until it has ended (or its pid went to another
-- process).
function H.kill(pid, start_time, sig)
  sig = sig or "KILL"
  if not H.signal(pid, start_time, sig) or sig ~= "KILL" then return end
  H.wait_for(function()
    return not H.alive(pid) or H.start_time(pid) ~= start_time
  end, "the end of process " .. pid)
end

-- Kills the program pid now runs, first noting which one it is: for a pid a
-- spec got from elsewhere (a restarted application, a grandchild) and
-- kills right away.
function H.kill_now(pid, sig)
  H.kill(pid, H.start_time(pid), sig)
end

-- Starts a shell command in the background; its stdout and stderr go to a
-- file. Returns an object with fields pid and start_time (H.start_time),
-- and functions output(), wait_line(pattern, seconds), alive(), kill(sig)
-- (signals this process only: never another that got its pid after it
-- ended; with KILL, the default, waits until it has ended).
function H.start(cmd)
  local dir = H.tmpdir()
  local out = dir .. "/out"
  -- the command must exec into the program, so that $! is its pid
  local pid = H.sh("(exec " .. cmd .. " >" .. H.q(out)
    .. " 2>&1 </dev/null & echo $!)")
  pid = assert(tonumber(pid:match("%d+")), "no pid")
  local child = { dir = dir, out = out, pid = pid,
    start_time = H.start_time(pid) }
  function child.output() return H.read(out) or "" end
  function child.wait_line(pattern, timeout)
    local m
    H.wait_for(function()
      m = child.output():match(pattern)
      return m
    end, function()
      return "the child to print " .. pattern .. "; output: " .. child.output()
    end, timeout)
    return m
  end
  function child.alive()
    return H.alive(pid) and H.start_time(pid) == child.start_time
  end
  function child.kill(sig) H.kill(pid, child.start_time, sig) end
  return child
end

-- Starts Lua code in a background child (see H.start).
function H.spawn(code, opts)
  opts = opts or {}
  return H.start("env " .. H.lua_env() .. " " .. (opts.env or "") .. " "
    .. (opts.prefix or "") .. " " .. H.LUA .. " -e " .. H.q(code))
end

-- Starts the holder helper program (spec/helpers/holder.c) with the given
-- words and waits until it holds what it was told to. exe: another copy of
-- the program to run. Returns the child (see H.start); kill it when done.
function H.holder(words, opts)
  opts = opts or {}
  local exe = opts.exe or (H.BUILD .. "/helpers/holder")
  if opts.prefix and opts.prefix:find(H.NOBODY, 1, true) and not opts.exe then
    exe = H.readable_by_all(exe)
  end
  local child = H.start((opts.prefix or "") .. " " .. H.q(exe) .. " " .. words)
  child.wait_line("ready (%d+)")
  return child
end

-- busted keeps only the last function a test passes to `finally`: this
-- keeps them all and runs them in reverse order, each even when another
-- failed (the first error is raised). Use as H.finally(finally, fn).
local deferred = setmetatable({}, { __mode = "k" })
function H.finally(register, fn)
  local list = deferred[register]
  if not list then
    list = {}
    deferred[register] = list
    register(function()
      deferred[register] = nil
      local first
      for i = #list, 1, -1 do
        local ok, err = pcall(list[i])
        if not ok and first == nil then first = err end
      end
      if first ~= nil then error(first, 0) end
    end)
  end
  list[#list + 1] = fn
end

-- A scratch directory (world-readable) and the processes a spec starts in
-- it, for before_each/after_each: fields dir and children; functions
-- file(name, content) (a file of the directory, readable by all, content
-- defaults to its name), holder(words, opts) (H.holder, killed at cleanup),
-- track(child) and cleanup().
-- opts.fifo: also a fifo (fx.fifo) that restarted applications block on;
-- they are not the spec's children, so cleanup finds them by its path.
-- opts.mode: the directory's mode (default 755).
function H.scratch(opts)
  opts = opts or {}
  local fx = { dir = H.tmpdir(), children = {} }
  H.sh("chmod " .. (opts.mode or "755") .. " " .. H.q(fx.dir))
  if opts.fifo then
    fx.fifo = fx.dir .. "/fifo"
    H.sh("mkfifo -m 666 " .. H.q(fx.fifo))
  end
  function fx.track(child)
    fx.children[#fx.children + 1] = child
    return child
  end
  function fx.file(name, content)
    local path = fx.dir .. "/" .. name
    H.write(path, content or name)
    H.sh("chmod 644 " .. H.q(path))
    return path
  end
  function fx.holder(words, hopts)
    return fx.track(H.holder(words, hopts))
  end
  -- the cooperative application (H.app) in this directory, on this fifo
  function fx.app(aopts)
    assert(fx.fifo, "H.scratch { fifo = true } for cooperative apps")
    local a = {}
    for k, v in pairs(aopts or {}) do a[k] = v end
    a.dir, a.fifo = fx.dir, fx.fifo
    a.data = a.data or fx.file("data", "old")
    return H.app(a, fx.track)
  end
  function fx.cleanup()
    -- the apps end by themselves, restarted ones (not our children) too
    if fx.fifo then H.release(fx.fifo) end
    for _, c in ipairs(fx.children) do c.kill("KILL") end
    H.sh("rm -rf " .. H.q(fx.dir))
  end
  return fx
end

-- The cooperative application, spec/helpers/app.lua: registered for
-- restart with its own arguments, it keeps its data file open, appends one
-- line per start to its state file and blocks opening the fifo until
-- H.release(fifo). opts: dir (its working directory) and fifo, required;
-- data (the file it holds), state (default dir/state), flags
-- (RM_APP_FLAGS), env (the words that find the modules, default
-- H.lua_env()), prefix (words before the interpreter: another user),
-- script (another copy of app.lua), words (more arguments, shell words).
-- track: called with the started child. Waits for its first start;
-- returns {state=, data=, first= (the first start, see H.app_starts),
-- child=, starts() (every start so far), wait_starts(n), instances() (the
-- pids of the app's processes now, restarted ones included)}.
function H.app(opts, track)
  local state = opts.state or (opts.dir .. "/state")
  local cmd = ("env -C %s RM_APP_ENV=hello RM_APP_FLAGS=%d %s %s %s %s %s %s %s %s")
    :format(H.q(opts.dir), opts.flags or 0, opts.env or H.lua_env(),
      opts.prefix or "", H.LUA,
      H.q(opts.script or (H.ROOT .. "/spec/helpers/app.lua")), H.q(state),
      H.q(opts.data), H.q(opts.fifo), opts.words or "")
  local a = { state = state, data = opts.data }
  a.child = H.start(cmd)
  if track then track(a.child) end
  function a.starts() return H.app_starts(state) end
  function a.wait_starts(n) return H.wait_app_starts(state, n) end
  function a.instances() return H.running_with(state) end
  a.first = a.wait_starts(1)[1]
  return a
end

-- Ends every cooperative application blocked on fifo, and the ones still
-- to get there: the fifo is opened for reading and writing (which lets the
-- blocked ones open it; they then end), removed (a later open fails: they
-- end at once), and closed.
function H.release(fifo)
  local f = io.open(fifo, "r+")
  os.remove(fifo)
  if f then f:close() end
end

-- The pids pattern captures in text that still run (not zombies), sorted.
local function live_sorted(text, pattern)
  local pids = {}
  for pid in text:gmatch(pattern) do
    pid = tonumber(pid)
    if H.alive(pid) then pids[#pids + 1] = pid end
  end
  table.sort(pids)
  return pids
end

-- The pids of the running processes (not zombies) whose command line
-- contains word, sorted.
function H.running_with(word)
  return live_sorted(H.sh("grep -l -a -F -e " .. H.q(word)
    .. " /proc/[0-9]*/cmdline 2>/dev/null"), "/proc/(%d+)/cmdline")
end

-- Whether process pid runs and no signal has reached it: none pending, and
-- not exiting. A fatal signal leaves that trace as soon as kill() has
-- returned (the kernel marks the process as exiting and queues SIGKILL in
-- the sender's call), so this needs no wait: right after a call that
-- would have signalled the process, it tells whether it did. (A SIGTERM
-- the process ignores leaves no trace, and has no effect.)
function H.untouched(pid)
  local status = H.read("/proc/" .. pid .. "/status")
  local stat = H.read("/proc/" .. pid .. "/stat")
  if not status or not stat then return false end
  local state = status:match("\nState:%s*(%a)")
  if state == "Z" or state == "X" then return false end
  for _, field in ipairs { "SigPnd", "ShdPnd" } do
    local mask = status:match("\n" .. field .. ":%s*(%x+)")
    if not mask or tonumber(mask, 16) ~= 0 then return false end
  end
  -- the flags, field 9 of stat: PF_EXITING is 0x4
  local flags = tonumber(stat:match("^%d+ %b() %a " .. ("%-?%d+ "):rep(5)
    .. "(%d+)"))
  return flags ~= nil and flags & 0x4 == 0
end

-- Whether signal number sig waits, pending, at process pid (one it blocks,
-- as spec/helpers/holder's block-term does with SIGTERM: the trace that the
-- signal was sent).
function H.pending(pid, sig)
  local status = H.read("/proc/" .. pid .. "/status") or ""
  for _, field in ipairs { "SigPnd", "ShdPnd" } do
    local mask = tonumber(status:match("\n" .. field .. ":%s*(%x+)") or "0", 16)
    if mask & (1 << (sig - 1)) ~= 0 then return true end
  end
  return false
end

-- The pids of the running processes whose executable is exactly path (a
-- path of a spec's own scratch directory: nothing else runs it), sorted;
-- one look at /proc for all of them.
function H.pids_of(path)
  return live_sorted(H.sh("for d in /proc/[0-9]*; do [ \"$(readlink \"$d/exe\" 2>/dev/null)\" = "
    .. H.q(path) .. " ] && echo \"${d#/proc/}\"; done"), "%d+")
end

-- Waits until process pid runs the program at path (a shell or env before
-- it that has not exec'd yet); returns pid.
function H.wait_exe(pid, path)
  return H.wait_for(function()
    return H.sh("readlink /proc/" .. pid .. "/exe"):find(path, 1, true) and pid
  end, ("process %d to run %s"):format(pid, path))
end

-- The arguments of process pid (argv[0] first), from /proc/PID/cmdline.
function H.cmdline(pid)
  local s = H.read("/proc/" .. pid .. "/cmdline") or ""
  local out = {}
  for a in s:gmatch("([^%z]*)%z") do out[#out + 1] = a end
  return out
end

-- The environment of process pid, name -> value.
function H.environ(pid)
  local s = H.read("/proc/" .. pid .. "/environ") or ""
  local out = {}
  for name, value in s:gmatch("([^=%z]+)=([^%z]*)%z") do out[name] = value end
  return out
end

-- Whether process pid runs (a zombie does not).
function H.alive(pid)
  local st = H.read("/proc/" .. pid .. "/stat")
  return st ~= nil and not st:match("^%d+ %b() Z")
end

-- Waits until process pid has ended (at most `seconds`, default H.WAIT);
-- returns whether it did.
function H.gone(pid, seconds)
  return pcall(H.wait_for, function() return not H.alive(pid) end,
    "the end of " .. pid, seconds) == true
end

-- The starts that spec/helpers/app.lua or examples/app.lua wrote to their
-- state file, one table of fields a line (pid as a number).
function H.app_starts(state)
  local lines = {}
  for line in (H.read(state) or ""):gmatch("[^\n]+") do
    local t = {}
    for k, v in line:gmatch("(%w+)=(%S*)") do t[k] = v end
    t.pid = tonumber(t.pid)
    t.groups = line:match("groups=%[(.-)%]")
    t.args = line:match("args=(.*)$")
    lines[#lines + 1] = t
  end
  return lines
end

-- Waits until the app has written n starts; returns them all.
function H.wait_app_starts(state, n)
  return H.wait_for(function()
    local l = H.app_starts(state)
    return #l >= n and l
  end, function()
    return "the app to start " .. n .. " times: " .. (H.read(state) or "")
  end)
end

-- The calling user's store directory, as the native backend computes it.
function H.store()
  local xdg = os.getenv("XDG_RUNTIME_DIR")
  if xdg and xdg:sub(1, 1) == "/" then return xdg .. "/restartmanager" end
  local uid = H.sh("id -u"):gsub("%s+", "")
  local function own_dir(path)
    local out = H.sh("stat -c '%F %u %a' " .. H.q(path) .. " 2>/dev/null")
    local kind, owner, mode = out:match("^(.-) (%d+) (%d+)")
    return kind == "directory" and owner == uid
      and tonumber(mode:sub(-2, -2)) & 2 == 0 and tonumber(mode:sub(-1)) & 2 == 0
  end
  if uid == "0" and own_dir("/run") then return "/run/restartmanager" end
  if uid ~= "0" and own_dir("/run/user/" .. uid) then
    return "/run/user/" .. uid .. "/restartmanager"
  end
  return "/tmp/restartmanager-" .. uid
end

-- The session keys present in the store.
function H.store_keys(store)
  local out = H.sh("ls -1 " .. H.q(store or H.store()) .. " 2>/dev/null")
  local keys = {}
  for k in out:gmatch("%x+") do
    if #k == 32 then keys[k] = true end
  end
  return keys
end

function H.is_root()
  return (H.sh("id -u"):gsub("%s+", "")) == "0"
end

-- Words that run a command as user nobody with a clean environment, or nil
-- when that is not possible (not root).
H.NOBODY = "setpriv --reuid=nobody --regid=nogroup --clear-groups"
function H.as_nobody()
  if not H.is_root() then return nil end
  return H.NOBODY .. " env -u XDG_RUNTIME_DIR"
end

-- A copy of the program at path that every user can run, for a child of
-- another user (H.as_nobody): the build tree may lie in a private home
-- directory that such a child cannot enter. The copies share one folder,
-- removed when the spec run ends (busted closes the Lua state).
local readable
function H.readable_by_all(path)
  if not readable then
    readable = setmetatable({ dir = H.tmpdir() }, { __gc = function(r)
      os.execute("rm -rf " .. H.q(r.dir))
    end })
    H.sh("chmod 755 " .. H.q(readable.dir))
  end
  local copy = readable.dir .. "/" .. path:gsub("^/", ""):gsub("/", "_")
  if not H.read(copy) then
    H.sh("cp " .. H.q(path) .. " " .. H.q(copy) .. " && chmod 755 " .. H.q(copy))
  end
  return copy
end

-- A copy of the built module and Lua files that another user can read;
-- returns the directory (use as the child's ROOT/BUILD).
function H.world_readable_copy()
  local dir = H.tmpdir()
  H.sh("chmod 755 " .. H.q(dir) .. " && cp -r " .. H.q(H.ROOT .. "/lua") .. " "
    .. H.q(dir .. "/lua") .. " && mkdir -p " .. H.q(dir .. "/build") .. " && cp -r "
    .. H.q(H.BUILD .. "/restartmanager") .. " " .. H.q(dir .. "/build/")
    .. " && chmod -R a+rX " .. H.q(dir))
  return dir
end

-- Environment words that make a child use the copy at dir.
function H.lua_env_at(dir)
  return "LUA_PATH=" .. H.q(dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua;;")
    .. " LUA_CPATH=" .. H.q(dir .. "/build/?.so;;")
end

return H
