-- Who uses these files: register_resources and get_list on Linux, with real
-- processes holding real files.
local H = require "spec.helpers"

describe("register_resources and get_list", function()
  local core, rm
  local dir

  setup(function()
    core = require "restartmanager.core"
    rm = require "restartmanager"
  end)

  local fx, holder, file
  before_each(function()
    fx = H.scratch()
    dir, holder, file = fx.dir, fx.holder, fx.file
  end)

  after_each(function() fx.cleanup() end)



  -- the apps of a list, by pid
  local function by_pid(apps)
    local t = {}
    for _, a in ipairs(apps) do t[a.pid] = a end
    return t
  end

  local function list(s)
    local apps, reasons, uninspected = s:get_list(1000)
    assert.is_table(apps, reasons)
    return by_pid(apps), reasons, uninspected
  end

  it("finds a process holding a registered file open, with every field",
    function()
      local f = file("held")
      local other = file("other")
      local h = holder("open " .. H.q(f))
      local bystander = holder("open " .. H.q(other))
      local s <close> = core.start_session()
      assert.is_true(s:register_resources({ f }))
      local apps, reasons = list(s)
      local a = apps[h.pid]
      assert.is_table(a, "holder not listed")
      assert.is_nil(apps[bystander.pid])
      assert.equal(0, reasons)
      assert.equal("holder", a.name)
      assert.equal(core.process(h.pid).start_time, a.start_time)
      assert.equal(core.app_status.running, a.status)
      assert.is_false(a.restartable)
      assert.is_nil(a.service)
      assert.is_true(a.type == "unknown" or a.type == "console")
      assert.equal("integer", math.type(a.session_id))
      -- the list is computed afresh: once the holder is gone, so is its app
      h.kill("KILL")
      apps = list(s)
      assert.is_nil(apps[h.pid])
    end)

  -- the scan looks up descriptor 3 first, then lists the others: a file
  -- held at any other descriptor, with 3 closed or holding something
  -- else, is found all the same
  it("finds the file whatever descriptor holds it", function()
    local f = file("held")
    local a, b = file("a"), file("b")
    local third = holder("open " .. H.q(a) .. " " .. H.q(b) .. " " .. H.q(f))
    local on9 = fx.track(H.start("sh -c " .. H.q('exec 9<"$0"; exec sleep 600')
      .. " " .. H.q(f)))
    local on0 = fx.track(H.start("sh -c " .. H.q('exec sleep 600 <"$0"')
      .. " " .. H.q(f)))
    local only_a = holder("open " .. H.q(a))
    H.wait_exe(on9.pid, "sleep")
    H.wait_exe(on0.pid, "sleep")
    H.wait_for(function()
      return H.sh("readlink /proc/" .. on9.pid .. "/fd/9") ~= ""
        and H.sh("readlink /proc/" .. on0.pid .. "/fd/0"):find(f, 1, true)
    end, "the descriptors of the sh children")
    local s <close> = core.start_session()
    assert.is_true(s:register_resources({ f }))
    local apps = list(s)
    assert.is_table(apps[third.pid], "file at descriptor 5 not found")
    assert.is_table(apps[on9.pid], "file at descriptor 9, 3 closed, not found")
    assert.is_table(apps[on0.pid], "file on standard input not found")
    assert.is_nil(apps[only_a.pid])
    -- registered where descriptor 3 holds it: found at once
    local s2 <close> = core.start_session()
    assert.is_true(s2:register_resources({ a }))
    apps = list(s2)
    assert.is_table(apps[third.pid])
    assert.is_table(apps[only_a.pid])
    assert.is_nil(apps[on9.pid])
  end)

  -- the scan opens a pidfd on every hit: a list leaves none open, and a
  -- shutdown none once it is done
  it("leaves no descriptor open after lists and a shutdown", function()
    local stat = assert(io.open("/proc/self/stat"))
    local me = stat:read("l"):match("^%d+")
    stat:close()
    local function open_fds()
      return tonumber((H.sh("ls -1 /proc/" .. me .. "/fd | wc -l")))
    end
    local f = file("held")
    for _ = 1, 20 do holder("open " .. H.q(f)) end
    local before = open_fds()
    for _ = 1, 3 do
      assert.equal(20, #assert(rm.who_uses({ f })))
      local s <close> = core.start_session()
      assert.is_true(s:register_resources({ f }))
      local apps = list(s)
      local n = 0
      for _ in pairs(apps) do n = n + 1 end
      assert.equal(20, n)
    end
    assert.equal(before, open_fds(), "lists left descriptors open")
    local s <close> = core.start_session()
    assert.is_true(s:register_resources({ f }))
    assert.is_true(s:shutdown(core.shutdown.force, nil, 5000))
    s:end_session()
    assert.equal(before, open_fds(), "the shutdown left descriptors open")
  end)

  -- the list's threads start on another CPU than their creator's: an
  -- installer allowed one CPU only (taskset) lists the same
  it("finds every holder when the installer may use one CPU only", function()
    if H.sh("command -v taskset") == "" then
      pending("no taskset")
      return
    end
    local names, holders = {}, {}
    for i = 1, 70 do
      names[i] = file("f" .. i)
      holders[i] = holder("open " .. H.q(names[i]))
    end
    local listed = dir .. "/list"
    H.write(listed, table.concat(names, "\n") .. "\n")
    for _, cpu in ipairs { "0", "0-1" } do
      local out, rc = H.sh("taskset -c " .. cpu .. " env " .. H.lua_env()
        .. " " .. H.LUA .. " -e " .. H.q(([[
        local rm = require "restartmanager"
        local files = {}
        for l in io.lines(%q) do files[#files + 1] = l end
        local apps = assert(rm.who_uses(files))
        for _, a in ipairs(apps) do print(a.pid) end
      ]]):format(listed)) .. " 2>&1")
      assert.equal(0, rc, out)
      local found = {}
      for pid in out:gmatch("%d+") do found[tonumber(pid)] = true end
      for i, h in ipairs(holders) do
        assert.is_true(found[h.pid], ("CPUs %s: holder %d not found"):format(cpu, i))
      end
    end
  end)

  it("finds a process that only maps the file (descriptor closed)", function()
    local f = file("mapped")
    local h = holder("mmap " .. H.q(f))
    assert.equal("", H.sh("ls -l /proc/" .. h.pid .. "/fd | grep -F "
      .. H.q(f) .. " || true"), "the holder still has a descriptor")
    local apps = by_pid(assert(rm.who_uses { f }))
    assert.is_table(apps[h.pid])
  end)

  it("finds a process mapping a file on overlayfs", function()
    if not H.is_root() then
      pending("needs root to mount")
      return
    end
    local ov = dir .. "/ov"
    local _, rc = H.sh(("mkdir -p %s/lower %s/upper %s/work %s/merged && "
      .. "echo data > %s/lower/f && mount -t overlay overlay -o "
      .. "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work %s/merged 2>&1")
      :gsub("%%s", H.q(ov)))
    if rc ~= 0 then
      pending("overlayfs cannot be mounted here")
      return
    end
    H.finally(finally, function() H.sh("umount -l " .. H.q(ov .. "/merged")) end)
    local f = ov .. "/merged/f"
    local h = holder("mmap " .. H.q(f))
    local apps = by_pid(assert(rm.who_uses { f }))
    assert.is_table(apps[h.pid])
    h.kill("KILL")
  end)

  it("finds a process started from a registered executable", function()
    local exe = dir .. "/app-binary"
    H.sh("cp " .. H.q(H.BUILD .. "/helpers/holder") .. " " .. H.q(exe))
    local h = holder("idle", { exe = exe })
    local apps = by_pid(assert(rm.who_uses { exe }))
    assert.is_table(apps[h.pid])
    assert.equal("app-binary", apps[h.pid].name)
  end)

  it("finds a thread with a file table of its own holding the file",
    function()
      local f = file("thread-held")
      local h = holder("thread " .. H.q(f))
      local apps = by_pid(assert(rm.who_uses { f }))
      assert.is_table(apps[h.pid])
    end)

  it("still finds users of a file replaced by rename after registration",
    function()
      local f = file("replaced", "old")
      local h = holder("open " .. H.q(f))
      local s <close> = core.start_session()
      assert.is_true(s:register_resources({ f }))
      local new = file("replaced.new", "new")
      assert.is_true(os.rename(new, f))
      local apps = list(s)
      assert.is_table(apps[h.pid], "the user of the old file was lost")
    end)

  it("finds users of a registered path created after its registration",
    function()
      local s <close> = core.start_session()
      local f = dir .. "/created-later"
      assert.is_true(s:register_resources({ f }))
      file("created-later")
      local h = holder("open " .. H.q(f))
      assert.is_table(list(s)[h.pid])
    end)

  it("finds another user's process when the scan runs as root", function()
    local prefix = H.as_nobody()
    if not prefix then
      pending("needs root")
      return
    end
    local f = file("nobody-held")
    local h = holder("open " .. H.q(f), { prefix = prefix })
    assert.equal("nobody", H.sh("ps -o user= -p " .. h.pid):match("%S+"))
    local apps, reasons = rm.who_uses { f }
    assert.is_table(by_pid(apps)[h.pid])
    assert.same({}, reasons)
  end)

  describe("as a caller that is not root", function()
    local copy

    before_each(function()
      if not H.is_root() then return end
      copy = H.world_readable_copy()
    end)
    after_each(function()
      if copy then H.sh("rm -rf " .. H.q(copy)) end
    end)

    local function as_nobody(code)
      return H.lua(code, { env = H.lua_env_at(copy), prefix = H.as_nobody() })
    end

    it("gives PermissionDenied for a registered process of another user",
      function()
        if not H.is_root() then
          pending("needs root")
          return
        end
        local h = holder("idle")
        local p = core.process(h.pid)
        local out, rc = as_nobody(([[
          local core = require "restartmanager.core"
          local s = assert(core.start_session())
          assert(s:register_resources(nil, { { pid = %d, start_time = %d } }))
          local apps, reasons = assert(s:get_list(10))
          print(#apps, apps[1] and apps[1].pid, apps[1] and apps[1].type, reasons)
          s:end_session()
        ]]):format(p.pid, p.start_time))
        assert.equal(0, rc, out)
        assert.equal(("1\t%d\tcritical\t%d\n"):format(h.pid,
          core.reboot_reason.permission_denied), out)
      end)

    it("reports the processes it could not inspect", function()
      if not H.is_root() then
        pending("needs root")
        return
      end
      local f = file("root-held")
      local h = holder("open " .. H.q(f))
      local out, rc = as_nobody(([[
        local rm = require "restartmanager"
        local apps, reasons, uninspected = assert(rm.who_uses { %q })
        print(#apps, uninspected)
      ]]):format(f))
      assert.equal(0, rc, out)
      local n, uninspected = out:match("^(%d+)\t(%d+)\n$")
      assert.equal("0", n, out)
      assert.is_true(tonumber(uninspected) >= 1, out)
      -- and root does see the holder
      assert.is_table(by_pid(assert(rm.who_uses { f }))[h.pid])
    end)
  end)

  it("includes the users of files a secondary in another process registered",
    function()
      local mine = file("primary-file")
      local theirs = file("secondary-file")
      local h1 = holder("open " .. H.q(mine))
      local h2 = holder("open " .. H.q(theirs))
      local s <close>, key = core.start_session()
      assert.is_true(s:register_resources({ mine }))
      local out, rc = H.lua(([[
        local rm = require "restartmanager"
        local s = assert(rm.join(%q))
        assert(s:register { files = { %q } })
        print("registered")
        s:close()
      ]]):format(key, theirs))
      assert.equal(0, rc, out)
      assert.equal("registered\n", out)
      local apps = list(s)
      assert.is_table(apps[h1.pid])
      assert.is_table(apps[h2.pid])
    end)

  it("lets a secondary list (read-only)", function()
    local f = file("listed-by-secondary")
    local h = holder("open " .. H.q(f))
    local p <close>, key = core.start_session()
    assert.is_true(p:register_resources({ f }))
    local s <close> = assert(core.join_session(key))
    assert.is_table(list(s)[h.pid])
  end)

  it("gives DetectedSelf when the caller itself holds the file", function()
    local f = file("self-held")
    local fh = assert(io.open(f, "r"))
    local apps, reasons = rm.who_uses { f }
    fh:close()
    local me = assert(apps[1])
    assert.equal(1, #apps)
    assert.equal("critical", me.type)
    assert.is_false(me.restartable)
    assert.same({ detected_self = true }, reasons)
    local out = H.read("/proc/" .. me.pid .. "/cmdline")
    assert.matches("lua", out)
  end)

  it("gives 234 and the needed capacity when the capacity is too small",
    function()
      local f = file("three-users")
      local hs = { holder("open " .. H.q(f)), holder("open " .. H.q(f)),
        holder("mmap " .. H.q(f)) }
      local s <close> = core.start_session()
      assert.is_true(s:register_resources({ f }))
      local apps, msg, code, needed = s:get_list(0)
      assert.is_nil(apps)
      assert.equal(234, code)
      assert.matches("^ERROR_MORE_DATA %(234%)", msg)
      assert.equal(3, needed)
      apps, msg, code, needed = s:get_list(2)
      assert.is_nil(apps)
      assert.equal(234, code)
      assert.matches("^ERROR_MORE_DATA %(234%)", msg)
      assert.equal(3, needed)
      apps = assert(s:get_list(needed))
      assert.equal(3, #apps)
      local pids = by_pid(apps)
      for _, h in ipairs(hs) do assert.is_table(pids[h.pid]) end
      -- sorted by pid
      assert.is_true(apps[1].pid < apps[2].pid and apps[2].pid < apps[3].pid)
      -- the Lua layer's loop gets there by itself
      local listed = assert(rm.Session.list(setmetatable({ handle = s },
        rm.Session)))
      assert.equal(3, #listed)
    end)

  it("reports a registered process only while its start time matches",
    function()
      local h = holder("idle")
      local p = core.process(h.pid)
      local s <close> = core.start_session()
      assert.is_true(s:register_resources(nil,
        { { pid = h.pid, start_time = p.start_time + 1 } }))
      local apps = list(s)
      assert.is_nil(apps[h.pid], "a pid with another start time was listed")
      assert.is_true(s:register_resources(nil, { p }))
      apps = list(s)
      assert.is_table(apps[h.pid])
    end)

  it("gives CriticalProcess for pid 1", function()
    local s <close> = core.start_session()
    assert.is_true(s:register_resources(nil, { core.process(1) }))
    local apps, reasons = s:get_list(10)
    assert.equal(1, #apps)
    assert.equal("critical", apps[1].type)
    assert.equal(core.reboot_reason.critical_process, reasons)
  end)

  describe("a registered directory", function()
    -- a tree with a process of every kind that uses it, and bystanders
    local function tree()
      local root = dir .. "/tree"
      H.sh("mkdir -p " .. H.q(root .. "/sub/deep") .. " " .. H.q(root .. "/bin")
        .. " " .. H.q(dir .. "/tree-sibling") .. " && cp "
        .. H.q(H.BUILD .. "/helpers/holder") .. " " .. H.q(root .. "/bin/"))
      local held = file("tree/sub/deep/held")
      local mapped = file("tree/sub/mapped")
      local outside = file("outside")
      local sibling = file("tree-sibling/file")
      local t = {
        root = root,
        open = holder("open " .. H.q(held)),
        map = holder("open " .. H.q("map:" .. mapped)),
        cwd = holder("idle", { prefix = "env -C " .. H.q(root .. "/sub") }),
        exe = holder("idle", { exe = root .. "/bin/holder" }),
        -- a file outside, a sibling whose name starts with the tree's, and
        -- a working directory elsewhere: none of them is beneath the tree
        outside = holder("open " .. H.q(outside)),
        sibling = holder("open " .. H.q(sibling), {
          prefix = "env -C " .. H.q(dir .. "/tree-sibling") }),
      }
      return t
    end

    local function check(apps, t)
      for _, k in ipairs { "open", "map", "cwd", "exe" } do
        assert.is_table(apps[t[k].pid], "the process (" .. k
          .. ") that uses the tree was not listed")
      end
      assert.is_nil(apps[t.outside.pid], "a holder of a file outside listed")
      assert.is_nil(apps[t.sibling.pid], "a prefix of the name is not a parent")
    end

    it("lists the processes that use a file beneath it, work in it or run "
      .. "from it", function()
      local t = tree()
      for _, private in ipairs { false, true } do
        local s <close> = core.start_session { private = private }
        assert.is_true(s:register_resources({ t.root }))
        local apps, reasons = list(s)
        check(apps, t)
        assert.equal(0, reasons)
        s:end_session()
      end
    end)

    it("is found by its real path, given relative or through a link",
      function()
      local t = tree()
      H.sh("ln -s tree " .. H.q(dir .. "/link"))
      local s <close> = core.start_session()
      -- relative to the working directory of the registering process
      local rel = H.lua([[
        local core = require "restartmanager.core"
        local s = assert(core.join_session(os.getenv("RMKEY")))
        assert(s:register_resources({ "link/" }))
        print("ok")
      ]], { env = "RMKEY=" .. s:key() .. " XDG_RUNTIME_DIR="
        .. H.q(os.getenv("XDG_RUNTIME_DIR")), prefix = "env -C " .. H.q(dir) })
      assert.equal("ok\n", rel)
      check((list(s)), t)
    end)

    it("follows a tree replaced after registration by its path", function()
      local s <close> = core.start_session { private = true }
      H.sh("mkdir " .. H.q(dir .. "/old"))
      assert.is_true(s:register_resources({ dir .. "/old" }))
      H.sh("mv " .. H.q(dir .. "/old") .. " " .. H.q(dir .. "/older"))
      local t = tree()
      H.sh("mv " .. H.q(t.root) .. " " .. H.q(dir .. "/old"))
      local apps = list(s)
      assert.is_table(apps[t.open.pid])
      assert.is_table(apps[t.cwd.pid])
    end)
  end)

  it("names the store and its one cause when the store is refused",
    function()
    local run = H.tmpdir()
    H.sh("mkdir -m 755 " .. H.q(run .. "/restartmanager"))
    local out = H.lua([[
      local core = require "restartmanager.core"
      print(select(2, core.start_session()))
    ]], { env = "XDG_RUNTIME_DIR=" .. H.q(run) })
    H.sh("rm -rf " .. H.q(run))
    assert.matches("^ERROR_ACCESS_DENIED %(5%)", out)
    assert.truthy(out:find(run .. "/restartmanager is not a private directory",
      1, true), out)
    assert.is_nil(out:find(" or ", 1, true) and out:find("registered", 1, true))
  end)

  it("answers the call after ERROR_MORE_DATA from the same scan, and "
    .. "scans again after anything else", function()
    local f = file("held")
    local h1, h2 = holder("open " .. H.q(f)), holder("open " .. H.q(f))
    for _, private in ipairs { false, true } do
      local s <close> = core.start_session { private = private }
      assert.is_true(s:register_resources({ f }))
      local apps, _, code, needed = s:get_list(1)
      assert.is_nil(apps)
      assert.equal(234, code)
      assert.equal(2, needed)
      -- a third user now: the call with room gets the list that did not
      -- fit (one scan a list), the next call sees the newcomer
      local h3 = holder("open " .. H.q(f))
      local got = by_pid(assert(s:get_list(needed)))
      assert.is_table(got[h1.pid])
      assert.is_table(got[h2.pid])
      assert.is_nil(got[h3.pid])
      assert.is_table(list(s)[h3.pid])
      -- a registration in between drops the kept list
      assert.is_nil(s:get_list(1))
      local other = file("other")
      assert.is_true(s:register_resources({ other }))
      h3.kill("KILL")
      got = by_pid(assert(s:get_list(10)))
      assert.is_nil(got[h3.pid])
      assert.is_table(got[h1.pid])
      s:end_session()
    end
  end)

  describe("many names of one directory (identified from its listing)",
    function()
      -- 300 files, and among the names: a link to a file elsewhere, a
      -- directory, a fifo, a name given twice and one that does not exist
      local names, held, outside
      local function setup_dir()
        local many = dir .. "/many"
        H.sh("mkdir " .. H.q(many) .. " " .. H.q(many .. "/sub")
          .. " && mkfifo " .. H.q(many .. "/fifo"))
        names = {}
        for i = 1, 300 do
          H.write(("%s/f%03d"):format(many, i), tostring(i))
          names[#names + 1] = ("%s/f%03d"):format(many, i)
        end
        outside = file("outside")
        H.sh("ln -s " .. H.q(outside) .. " " .. H.q(many .. "/link"))
        H.write(many .. "/sub/inner", "inner")
        for _, n in ipairs { "link", "sub", "fifo", "f050", "none" } do
          names[#names + 1] = many .. "/" .. n
        end
        held = {
          first = holder("open " .. H.q(names[1])),
          last = holder("open " .. H.q(names[300])),
          mapped = holder("mmap " .. H.q(names[77])),
          linked = holder("open " .. H.q(outside)),
          inner = holder("open " .. H.q(many .. "/sub/inner")),
        }
        return many
      end

      it("finds what a look-up of each name finds, private or not",
        function()
          setup_dir()
          local bystander = holder("open " .. H.q(file("bystander")))
          for _, private in ipairs { true, false } do
            local s <close> = core.start_session { private = private }
            assert.is_true(s:register_resources(names))
            local apps = list(s)
            for what, h in pairs(held) do
              assert.is_table(apps[h.pid], what .. " not listed (private: "
                .. tostring(private) .. ")")
            end
            assert.is_nil(apps[bystander.pid])
            -- "none", the 305th name, alone
            assert.same({ 305 }, s:missing())
            s:end_session()
          end
        end)

      it("looks up a name something is mounted on", function()
        if not H.is_root() then
          pending("needs root to mount")
          return
        end
        local many = setup_dir()
        -- in a mount namespace of its own, the outside file is mounted on
        -- f050: its entry still carries the inode of the file beneath
        local other = file("mounted")
        local h = holder("open " .. H.q(other))
        local mount = ("mount --bind %s %s && exec \"$@\"")
          :format(H.q(other), H.q(many .. "/f050"))
        local out, rc = H.lua(([[
          local rm = require "restartmanager"
          local names = {}
          for i = 1, 300 do names[i] = ("%s/f%%03d"):format(i) end
          local apps = assert(rm.who_uses(names))
          for _, a in ipairs(apps) do io.write(a.pid, " ") end
        ]]):format(many), { prefix = "unshare -m --propagation private sh -c "
          .. H.q(mount) .. " sh" })
        if rc ~= 0 and out:match("unshare") then
          pending("no mount namespace here: " .. out)
          return
        end
        assert.equal(0, rc, out)
        local pids = {}
        for pid in out:gmatch("%d+") do pids[tonumber(pid)] = true end
        assert.is_true(pids[h.pid], "the user of the mounted file was not "
          .. "listed: " .. out)
        assert.is_true(pids[held.first.pid], out)
      end)
    end)

  it("tells which registered paths did not exist at the last list",
    function()
    local a, b = file("a"), file("b")
    for _, private in ipairs { false, true } do
      local s <close> = core.start_session { private = private }
      assert.same({}, s:missing())
      local none = dir .. "/none-" .. tostring(private)
      assert.is_true(s:register_resources({ a, none, b }))
      assert.is_true(s:register_resources({ dir .. "/a/below", dir }))
      assert.is_table((s:get_list(10)))
      -- places in the order registered, a directory counted among them
      assert.same({ 2, 4 }, s:missing())
      H.write(none, "now")
      assert.is_table((s:get_list(10)))
      assert.same({ 4 }, s:missing())
      s:end_session()
    end
  end)

  it("accepts a path that does not exist, which matches nothing", function()
    local s <close> = core.start_session()
    assert.is_true(s:register_resources({ dir .. "/not-there" }))
    local apps, reasons = s:get_list(0)
    assert.same({}, apps)
    assert.equal(0, reasons)
  end)

  it("accumulates registrations, made relative paths absolute", function()
    local a, b = file("a"), file("b")
    local ha, hb = holder("open " .. H.q(a)), holder("open " .. H.q(b))
    local out, rc = H.lua(([[
      local core = require "restartmanager.core"
      local s = assert(core.start_session())
      assert(s:register_resources({ "a" }))
      assert(s:register_resources({ %q }))
      local apps = assert(s:get_list(10))
      local pids = {}
      for _, app in ipairs(apps) do pids[#pids + 1] = app.pid end
      table.sort(pids)
      print(table.concat(pids, " "))
    ]]):format(b), { prefix = "env -C " .. H.q(dir) })
    assert.equal(0, rc, out)
    local want = { ha.pid, hb.pid }
    table.sort(want)
    assert.equal(table.concat(want, " ") .. "\n", out)
  end)

  it("skips a torn record and keeps every whole one", function()
    local f = file("after-torn")
    local g = file("before-torn")
    local hf, hg = holder("open " .. H.q(f)), holder("open " .. H.q(g))
    local s <close>, key = core.start_session()
    assert.is_true(s:register_resources({ g }))
    -- a writer killed in the middle of a record leaves its start behind
    local records = H.store() .. "/" .. key .. "/records"
    local fh = assert(io.open(records, "ab"))
    fh:write("RMR1 4000 0123456789abcdef\nFf:1:2:/garbage")
    fh:close()
    assert.is_true(s:register_resources({ f }))
    local apps = list(s)
    assert.is_table(apps[hf.pid])
    assert.is_table(apps[hg.pid])
  end)
end)

describe("restartmanager list helpers", function()
  local rm, core

  setup(function()
    rm = require "restartmanager"
    core = rm.core
  end)

  it("decodes reboot reasons to a set of names", function()
    assert.same({}, rm.reboot_reasons(0))
    assert.same({ permission_denied = true, detected_self = true },
      rm.reboot_reasons(core.reboot_reason.permission_denied
        | core.reboot_reason.detected_self))
  end)

  it("registers a large list in one call", function()
    local s <close> = assert(rm.start())
    local calls = 0
    local real = s.handle
    s.handle = setmetatable({}, { __index = function(_, k)
      if k == "register_resources" then
        return function(_, f, p, v)
          calls = calls + 1
          return real:register_resources(f, p, v)
        end
      end
      return function(_, ...) return real[k](real, ...) end
    end })
    local files = {}
    for i = 1, 131073 do files[i] = "/nonexistent/" .. i end
    assert.is_true(s:register { files = files })
    assert.equal(1, calls)
    s.handle = real
  end)

  it("resolves a bare pid to the live process", function()
    local s <close> = assert(rm.start())
    local ok, _, code = s:register { processes = { 0x7FFFFFF0 } }
    assert.is_nil(ok)
    assert.equal(87, code)
    assert.is_true(s:register { processes = { 1 } })
    local apps = assert(s:list())
    assert.equal(1, apps[1].pid)
  end)

  it("raises on misuse", function()
    local s <close> = assert(rm.start())
    assert.has_error(function() s:register("x") end,
      "bad argument #1 to 'register' (table expected, got string)")
    assert.has_error(function() s:register { files = "x" } end,
      "bad field 'files' (table expected, got string)")
    assert.has_error(function() rm.who_uses(5) end,
      "bad argument #1 to 'who_uses' (table expected, got number)")
    -- a bad entry is named in the layer's words, and nothing is registered
    local fx = H.scratch()
    finally(fx.cleanup)
    local f = fx.file("registered")
    local h = fx.holder("open " .. H.q(f))
    assert.has_error(function() s:register { files = { f, true } } end,
      "bad field 'files' (string expected at index 2, got boolean)")
    assert.has_error(function() s:register { files = { f, "a\0b" } } end,
      "bad field 'files' (string at index 2 contains a zero byte)")
    assert.has_error(function() s:register { services = { "a", 5 } } end,
      "bad field 'services' (string expected at index 2, got number)")
    assert.has_error(function() rm.who_uses { f, {} } end,
      "bad field 'files' (string expected at index 2, got table)")
    assert.same({}, (assert(s:list())))
    -- true alone, as the core answers
    assert.same({ n = 1, true }, table.pack(s:register { files = { f } }))
    assert.equal(h.pid, assert(s:list())[1].pid)
  end)
end)
