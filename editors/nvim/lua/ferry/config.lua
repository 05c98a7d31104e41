-- The plugin's options: defaults, `vim.g.ferry` and `require('ferry').setup()`, validated.

---@class ferry.Symbols
---@field ok? string in sync
---@field busy? string connecting, initial sync, transfers
---@field up? string files to upload
---@field down? string files to download
---@field warning? string per-file problems
---@field error? string a sync path cannot sync
---@field stopped? string stopped
---@field locked? string another process syncs the folder

---@class ferry.Options
---@field binary? string the `ferry` executable (default: `ferry` on PATH)
---@field kubeconfig? string a kubeconfig file instead of KUBECONFIG / ~/.kube/config
---@field context? string the kubeconfig context
---@field namespace? string the namespace for sync paths that name none
---@field autoStart? boolean start syncing when the server starts (default true)
---@field logLevel? string the server's stderr level: error, warn, info, debug, trace
---@field configPath? string the config file, relative to the workspace folder
---@field profile? string|string[] DevSpace profiles to apply after the activated ones
---@field notify? boolean tell errors with vim.notify (default true)
---@field symbols? ferry.Symbols the statusline's symbols

local M = {}

---@type ferry.Options
M.defaults = {
  binary = nil,
  kubeconfig = nil,
  context = nil,
  namespace = nil,
  autoStart = true,
  logLevel = 'warn',
  configPath = nil,
  profile = nil,
  notify = true,
  symbols = {
    ok = '✓',
    busy = '…',
    up = '↑',
    down = '↓',
    warning = '!',
    error = '✗',
    stopped = '■',
    locked = '⊘',
  },
}

local KEYS = {
  binary = 'string',
  kubeconfig = 'string',
  context = 'string',
  namespace = 'string',
  autoStart = 'boolean',
  logLevel = 'string',
  configPath = 'string',
  profile = { 'string', 'table' },
  notify = 'boolean',
  symbols = 'table',
}
local LEVELS = { error = true, warn = true, info = true, debug = true, trace = true }

--- Whether `v`'s type is `want` (a type name or a list of them).
local function accepts(want, v)
  if type(want) == 'table' then
    return vim.tbl_contains(want, type(v))
  end
  return type(v) == want
end

---@type ferry.Options?
local from_setup = nil

--- Checks `opts`; returns the problems (unknown keys, wrong types) as messages.
---@param opts table
---@return string[]
function M.check(opts)
  local problems = {}
  if type(opts) ~= 'table' then
    return { ('options must be a table, got %s'):format(type(opts)) }
  end
  for k, v in pairs(opts) do
    local want = KEYS[k]
    if not want then
      table.insert(problems, ('unknown option %q'):format(tostring(k)))
    else
      local ok, err = pcall(vim.validate, k, v, want, true)
      if not ok then
        table.insert(problems, tostring(err))
      end
    end
  end
  if type(opts.logLevel) == 'string' and not LEVELS[opts.logLevel] then
    table.insert(problems, ('logLevel: expected error, warn, info, debug or trace, got %q'):format(opts.logLevel))
  end
  if type(opts.symbols) == 'table' then
    for k, v in pairs(opts.symbols) do
      if M.defaults.symbols[k] == nil then
        table.insert(problems, ('unknown symbol %q'):format(tostring(k)))
      elseif type(v) ~= 'string' then
        table.insert(problems, ('symbols.%s: expected string, got %s'):format(k, type(v)))
      end
    end
  end
  return problems
end

local told = {}

--- Reports problems once each (vim.notify, WARN).
local function report(problems, where)
  for _, p in ipairs(problems) do
    local msg = ('ferry: %s: %s'):format(where, p)
    if not told[msg] then
      told[msg] = true
      vim.notify(msg, vim.log.levels.WARN)
    end
  end
end

--- Sets the options of `setup()`.
---@param opts ferry.Options?
function M.set(opts)
  opts = opts or {}
  report(M.check(opts), 'setup()')
  from_setup = opts
end

--- The options in effect: defaults, then `vim.g.ferry`, then `setup()`. Wrong values are
--- reported (once) and ignored.
---@return ferry.Options
function M.get()
  local merged = vim.deepcopy(M.defaults)
  for _, layer in ipairs({ { vim.g.ferry, 'vim.g.ferry' }, { from_setup, 'setup()' } }) do
    local opts, where = layer[1], layer[2]
    if opts ~= nil then
      local problems = M.check(opts)
      report(problems, where)
      if type(opts) == 'table' then
        for k, v in pairs(opts) do
          local ok = KEYS[k] and accepts(KEYS[k], v)
          if ok and k == 'symbols' then
            for sk, sv in pairs(v) do
              if merged.symbols[sk] ~= nil and type(sv) == 'string' then
                merged.symbols[sk] = sv
              end
            end
          elseif ok and not (k == 'logLevel' and not LEVELS[v]) then
            merged[k] = v
          end
        end
      end
    end
  end
  return merged
end

--- The binary to run.
---@return string
function M.binary()
  return M.get().binary or 'ferry'
end

--- The server's settings (`initializationOptions` and the `ferry` configuration section).
---@return table
function M.server_settings()
  local o = M.get()
  return {
    kubeconfig = o.kubeconfig,
    context = o.context,
    namespace = o.namespace,
    autoStart = o.autoStart,
    logLevel = o.logLevel,
    configPath = o.configPath,
    profile = o.profile,
  }
end

return M
