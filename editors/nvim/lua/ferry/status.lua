-- The `ferry/status` payload (docs/protocol.md, "The status payload (version 1)") in
-- words: the statusline's short text and the lines of `:Ferry status`. Pure (no editor
-- state), so it is unit-tested under `nvim -l` (test/status_spec.lua). The same concepts
-- and words as the VS Code extension's status item (editors/vscode/src/status.ts).

local M = {}

M.SUPPORTED_VERSION = 1

---@alias ferry.Look 'ok'|'busy'|'warning'|'error'|'stopped'|'locked'|'idle'

---@class ferry.View
---@field text string the statusline text, e.g. `ferry ✓`, `ferry ↑3 ↓1`, `ferry 42%`
---@field look ferry.Look
---@field headline string one line in words (`in sync`, `web cannot sync`, …)
---@field error? string the whole error, when `look` is `error`

local BUSY = { connecting = true, initialSync = true, uploading = true, downloading = true }

-- The default symbols are the options' (one table: `ferry.config`).
local DEFAULT_SYMBOLS = require('ferry.config').defaults.symbols

local function plural(n, word)
  return ('%d %s%s'):format(n, word, n == 1 and '' or 's')
end

local function num(v)
  return type(v) == 'number' and v or 0
end

local function str(v)
  return type(v) == 'string' and v or nil
end

local function percent(total, pending)
  return math.max(0, math.min(100, math.floor((total - pending) * 100 / total)))
end

--- A failing path's reason in two or three words (`no pod`, `no cluster`, …).
---@param last_error string?
---@return string
function M.short_reason(last_error)
  local e = (str(last_error) or ''):lower()
  local function has(...)
    for _, p in ipairs({ ... }) do
      if e:find(p) then
        return true
      end
    end
    return false
  end
  if has('no running and ready pod', 'no pod', 'pod .* not found', 'pods? .*gone', 'pods? .*deleted') then
    return 'no pod'
  end
  if has('cannot reach the cluster', 'connection refused', 'kubeconfig', 'unauthori[sz]ed', 'forbidden') then
    return 'no cluster'
  end
  if has('connection lost', 'stream ended', 'watcher in the container stopped', 'went away') then
    return 'connection lost'
  end
  if has('no shell', 'tools? missing', 'tools are missing', 'not found in the container') then
    return 'container unusable'
  end
  return 'error'
end

--- Who holds a locked folder, from its message (`… synced by ferry sync (pid 42); …`).
---@param message string?
---@return string?
function M.lock_owner(message)
  local owner = (str(message) or ''):match('synced by (.-);') or (str(message) or ''):match('synced by (.+)$')
  owner = owner and vim.trim(owner) or nil
  if not owner or owner == '' or owner == 'another process (its lock file does not say which)' then
    return nil
  end
  return owner
end

--- The path of a `file://` URI (no decoding beyond percent escapes).
---@param uri string?
---@return string?
function M.uri_path(uri)
  if type(uri) ~= 'string' or not uri:match('^file://') then
    return nil
  end
  local p = uri:gsub('^file://', ''):gsub('%%(%x%x)', function(h)
    return string.char(tonumber(h, 16))
  end)
  return (p:gsub('/+$', ''))
end

--- The folder's name: the last segment of its URI's path.
---@param uri string
---@return string
function M.folder_name(uri)
  local p = M.uri_path(uri)
  if not p then
    return uri
  end
  return p:match('([^/]+)$') or p
end

--- The local folder of the sync path `(folder, slot)` in a `ferry/status` payload.
---@param payload table|nil
---@param folder string
---@param slot string
---@return string|nil
function M.local_path(payload, folder, slot)
  for _, p in ipairs(payload and payload.paths or {}) do
    if p.folder == folder and p.id == slot then
      return p.localPath
    end
  end
  return nil
end

--- The short view of a payload.
---@param s table the status payload
---@param symbols? table the symbols (config `symbols`)
---@return ferry.View
function M.format(s, symbols)
  local sym = vim.tbl_extend('force', DEFAULT_SYMBOLS, symbols or {})
  if type(s) ~= 'table' or s.version ~= M.SUPPORTED_VERSION then
    local v = type(s) == 'table' and tostring(s.version) or '?'
    return {
      text = 'ferry ' .. sym.warning .. ' unknown status',
      look = 'warning',
      headline = ('the server sends status version %s; this plugin knows version %d. Update the plugin or the server.'):format(
        v,
        M.SUPPORTED_VERSION
      ),
    }
  end
  local paths = type(s.paths) == 'table' and s.paths or {}
  local folders = type(s.folders) == 'table' and s.folders or {}
  local locked, config_errors, failing = {}, {}, {}
  local problems, up, down = 0, 0, 0
  local all_stopped = #paths > 0
  local all_no_config = #folders > 0
  for _, f in ipairs(folders) do
    if f.state == 'locked' then
      table.insert(locked, f)
    elseif f.state == 'configError' then
      table.insert(config_errors, f)
    end
    if f.state ~= 'noConfig' then
      all_no_config = false
    end
  end
  for _, p in ipairs(paths) do
    problems = problems + num(p.problemCount)
    up = up + num(p.pendingUp)
    down = down + num(p.pendingDown)
    if p.state == 'error' then
      table.insert(failing, p)
    end
    if p.state ~= 'stopped' then
      all_stopped = false
    end
  end
  local stopped = s.health == 'stopped' or all_stopped

  if #config_errors > 0 then
    return {
      text = 'ferry ' .. sym.error .. ' config error',
      look = 'error',
      headline = 'the config has an error (see the diagnostics of the config file)',
      error = str(config_errors[1].message) or 'the config has an error',
    }
  end
  if s.health == 'error' or #failing > 0 then
    local first = failing[1]
    local reason = first and M.short_reason(first.lastError) or 'error'
    local who = (#failing == 1 and #paths > 1) and (first.name .. ' ') or ''
    return {
      text = 'ferry ' .. sym.error .. ' ' .. who .. reason,
      look = 'error',
      headline = #failing == 1 and (first.name .. ' cannot sync') or (plural(#failing, 'sync path') .. ' cannot sync'),
      error = first and ((first.name or '?') .. ' cannot sync: ' .. (str(first.lastError) or 'error')) or 'cannot sync',
    }
  end
  if #locked > 0 then
    local owner = M.lock_owner(locked[1].message)
    return {
      text = 'ferry ' .. sym.locked .. ' locked' .. (owner and (' by ' .. owner) or ''),
      look = 'locked',
      headline = 'synced by ' .. (owner or 'another process'),
    }
  end
  if #paths == 0 and all_no_config then
    return { text = 'ferry: no config', look = 'idle', headline = 'no devspace.yaml in the workspace' }
  end
  if stopped then
    return { text = 'ferry ' .. sym.stopped .. ' stopped', look = 'stopped', headline = 'stopped (:Ferry start resumes)' }
  end

  local busy = false
  local initial_total, initial_pending, initial, connecting = 0, 0, 0, 0
  for _, p in ipairs(paths) do
    if BUSY[p.state] then
      busy = true
    end
    if p.state == 'initialSync' then
      initial = initial + 1
      initial_total = initial_total + num(p.total)
      initial_pending = initial_pending + num(p.pending)
    elseif p.state == 'connecting' then
      connecting = connecting + 1
    end
  end
  local text
  if initial > 0 then
    text = initial_total > 0 and ('ferry %d%%'):format(percent(initial_total, initial_pending))
      or ('ferry ' .. sym.busy .. ' initial sync')
  elseif connecting > 0 and connecting == #paths then
    text = 'ferry ' .. sym.busy .. ' connecting'
  elseif up > 0 or down > 0 then
    text = ('ferry %s%d %s%d'):format(sym.up, up, sym.down, down)
  elseif busy then
    text = 'ferry ' .. sym.busy
  elseif #paths == 0 then
    text = 'ferry'
  else
    text = 'ferry ' .. sym.ok
  end
  if problems > 0 then
    text = text .. ' ' .. sym.warning .. ' ' .. plural(problems, 'problem')
  end
  local look = problems > 0 and 'warning' or busy and 'busy' or #paths == 0 and 'idle' or 'ok'
  local headline = problems > 0 and plural(problems, 'problem')
    or busy and 'syncing'
    or #paths == 0 and 'nothing to sync'
    or 'in sync'
  return { text = text, look = look, headline = headline }
end

--- The local folder, relative to its workspace folder when inside it.
local function local_shown(p)
  local root = M.uri_path(p.folder)
  local lp = str(p.localPath) or '?'
  if root and lp == root then
    return '.'
  end
  if root and lp:sub(1, #root + 1) == root .. '/' then
    return lp:sub(#root + 2)
  end
  return lp
end

local function path_state(p)
  local s = str(p.state) or '?'
  if p.state == 'initialSync' and num(p.total) > 0 then
    s = ('%s %d%%'):format(s, percent(num(p.total), num(p.pending)))
  end
  return s
end

--- One replica of a `replicas: all` path in words (the VS Code tooltip's words):
--- `web-1 (primary) · watching · 3 up, 0 deleted`, with its problems and error.
---@param r table a `paths[].replicas[]` entry
---@return string
function M.replica_line(r)
  local line = ('%s (%s) · %s'):format(str(r.pod) or '?', str(r.role) or '?', str(r.state) or '?')
  if num(r.pending) > 0 then
    line = line .. (' · pending %d'):format(num(r.pending))
  end
  line = line .. (' · %d up, %d deleted'):format(num(r.uploaded), num(r.deleted))
  if num(r.problemCount) > 0 then
    line = line .. ' · ' .. plural(num(r.problemCount), 'problem')
  end
  if str(r.lastError) then
    line = line .. ' — ' .. r.lastError
  end
  return line
end

--- The lines of `:Ferry status`: a headline, then every sync path (folder ⇄ container
--- folder, pod, state, counts, error, problems) and every folder that does not sync.
---@param s table the status payload
---@param symbols? table
---@param max_problems? integer problems listed per path (default 5)
---@return string[]
function M.report(s, symbols, max_problems)
  max_problems = max_problems or 5
  local view = M.format(s, symbols)
  local lines = { ('%s — %s'):format(view.text, view.headline) }
  if type(s) ~= 'table' or s.version ~= M.SUPPORTED_VERSION then
    return lines
  end
  for _, p in ipairs(type(s.paths) == 'table' and s.paths or {}) do
    local where = ('%s ⇄ %s'):format(local_shown(p), str(p.containerPath) or '?')
    if str(p.pod) then
      where = where .. ' · pod ' .. p.pod .. (str(p.container) and ('/' .. p.container) or '')
    end
    table.insert(lines, ('%s: %s · %s'):format(str(p.name) or '?', path_state(p), where))
    local counts = {}
    if num(p.pendingUp) > 0 or num(p.pendingDown) > 0 then
      table.insert(counts, ('pending ↑%d ↓%d'):format(num(p.pendingUp), num(p.pendingDown)))
    end
    table.insert(counts, ('%d up, %d down, %d deleted'):format(num(p.uploaded), num(p.downloaded), num(p.deleted)))
    table.insert(lines, '  ' .. table.concat(counts, ' · '))
    if str(p.lastError) then
      table.insert(lines, '  error: ' .. p.lastError)
    end
    local replicas = type(p.replicas) == 'table' and p.replicas or {}
    if #replicas > 0 then
      table.insert(lines, ('  %s:'):format(plural(#replicas, 'replica')))
      for _, r in ipairs(replicas) do
        table.insert(lines, '  - ' .. M.replica_line(r))
      end
    end
    local n = num(p.problemCount)
    if n > 0 then
      table.insert(lines, ('  %s:'):format(plural(n, 'problem')))
      local listed = type(p.problems) == 'table' and p.problems or {}
      for i = 1, math.min(#listed, max_problems) do
        local pr = listed[i]
        table.insert(lines, ('  - %s (%s): %s'):format(str(pr.path) or '?', str(pr.kind) or '?', str(pr.message) or ''))
      end
      if n > max_problems then
        table.insert(lines, ('  - … and %d more (:Ferry conflicts, vim.diagnostic)'):format(n - max_problems))
      end
    end
  end
  for _, f in ipairs(type(s.folders) == 'table' and s.folders or {}) do
    if f.state ~= 'syncing' then
      table.insert(
        lines,
        ('%s: %s%s'):format(M.folder_name(f.uri or '?'), str(f.state) or '?', str(f.message) and (' — ' .. f.message) or '')
      )
    end
  end
  if #lines == 1 then
    table.insert(lines, 'nothing to sync')
  end
  return lines
end

return M
