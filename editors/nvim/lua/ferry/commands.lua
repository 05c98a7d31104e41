-- `:Ferry {subcommand}`: the front ends' commands (docs/protocol.md, "The front ends'
-- commands"), each a `workspace/executeCommand` of the buffer's server.

local client_mod = require('ferry.client')
local status = require('ferry.status')

local M = {}

local function echo(lines, level)
  local chunks = {}
  for i, l in ipairs(lines) do
    table.insert(chunks, { l .. (i < #lines and '\n' or ''), level == 'error' and 'ErrorMsg' or nil })
  end
  vim.api.nvim_echo(chunks, true, {})
end

local function fail(msg)
  vim.notify('ferry: ' .. msg, vim.log.levels.ERROR)
end

--- The buffer's server, or an error told.
local function need_client()
  local c = client_mod.client()
  if not c then
    fail('no ferry server for this buffer (open a file under a folder with devspace.yaml)')
  end
  return c
end

--- The folder argument of the server's commands: the client's root.
local function folder_arg(c)
  return { folder = vim.uri_from_fname(c.root_dir) }
end

--- Runs `command` on the buffer's server; `done(result)` on success.
local function exec(command, args, done)
  local c = need_client()
  if not c then
    return
  end
  c:request('workspace/executeCommand', { command = command, arguments = args or { folder_arg(c) } }, function(err, result)
    if err then
      fail(('%s: %s'):format(command, err.message or vim.inspect(err)))
      return
    end
    if done then
      done(result, c)
    end
  end)
end

local function simple(command, said)
  return function()
    exec(command, nil, function()
      echo({ 'ferry: ' .. said })
    end)
  end
end

local function fmt_doctor(result)
  local lines = {}
  for _, f in ipairs(result or {}) do
    local r = f.report or {}
    table.insert(lines, ('%s: %s'):format(status.folder_name(f.folder or '?'), r.ok and 'ready to sync' or 'problems found'))
    for _, c in ipairs(r.checks or {}) do
      local mark = c.status == 'ok' and 'OK' or c.status == 'warning' and 'WARN' or 'ERROR'
      local line = ('  %-5s %s%s: %s'):format(mark, c.sync ~= vim.NIL and c.sync and (c.sync .. ' ') or '', c.what or '?', c.detail or '')
      table.insert(lines, line)
      if c.fix and c.fix ~= vim.NIL then
        table.insert(lines, '        fix: ' .. c.fix)
      end
    end
  end
  return lines
end

--- The open conflicts as quickfix items (needs the last status for the local folders).
---@param result table `ferry.server.conflicts`
---@param c vim.lsp.Client
---@return table[]
function M.conflict_items(result, c)
  local st = client_mod.roots[vim.fs.normalize(c.root_dir)]
  local items = {}
  for _, entry in ipairs(result or {}) do
    local base = status.local_path(st and st.payload, entry.folder, entry.slot) or c.root_dir
    for _, k in ipairs(entry.conflicts or {}) do
      table.insert(items, {
        filename = base .. '/' .. k.path,
        lnum = 1,
        col = 1,
        type = 'W',
        text = ('[%s] %s: %s'):format(entry.name or '?', k.kind or 'conflict', k.message or ''),
        user_data = { folder = entry.folder, slot = entry.slot, path = k.path, kind = k.kind, versions = k.versions },
      })
    end
  end
  return items
end

--- The current buffer's file as `{folder, slot, path}` of a sync path, or an error told.
local function current_file()
  local file = vim.fs.normalize(vim.api.nvim_buf_get_name(0))
  local p, rel = client_mod.path_of(file)
  if not p then
    fail('this buffer is not in a sync path')
    return nil
  end
  return { folder = p.folder, slot = p.id, path = rel }, file
end

M.subcommands = {
  start = { run = simple('ferry.server.start', 'started') },
  stop = { run = simple('ferry.server.stop', 'stopped') },
  restart = { run = simple('ferry.server.restart', 'restarted') },
  resync = { run = simple('ferry.server.resync', 'resyncing') },
  status = {
    run = function()
      exec('ferry.server.status', nil, function(result)
        echo(status.report(result, require('ferry.config').get().symbols))
      end)
    end,
  },
  list = {
    run = function()
      exec('ferry.server.list', nil, function(result)
        local lines = {}
        for _, f in ipairs(result or {}) do
          table.insert(lines, ('%s (%s)'):format(status.folder_name(f.folder or '?'), f.configFile or '?'))
          for _, p in ipairs(f.syncPaths or {}) do
            table.insert(lines, ('  %s: %s ⇄ %s'):format(p.name or '?', p.localPath or '?', p.containerPath or '?'))
          end
        end
        echo(#lines > 0 and lines or { 'ferry: nothing to sync' })
      end)
    end,
  },
  doctor = {
    run = function()
      echo({ 'ferry: checking…' })
      exec('ferry.server.doctor', nil, function(result)
        echo(fmt_doctor(result))
      end)
    end,
  },
  log = {
    run = function()
      exec('ferry.server.log', nil, function(result)
        local first = result and result[1]
        if not first or not first.path then
          fail('no sync log yet')
          return
        end
        vim.cmd('split ' .. vim.fn.fnameescape(first.path))
        vim.bo.readonly = true
        vim.cmd('normal! G')
      end)
    end,
  },
  conflicts = {
    run = function()
      exec('ferry.server.conflicts', nil, function(result, c)
        local items = M.conflict_items(result, c)
        vim.fn.setqflist({}, ' ', { title = 'ferry conflicts', items = items })
        if #items == 0 then
          echo({ 'ferry: no open conflicts' })
        else
          vim.cmd('copen')
        end
      end)
    end,
  },
  resolve = {
    args = { 'local', 'container' },
    run = function(args)
      local keep = args[1]
      if keep ~= 'local' and keep ~= 'container' then
        fail('usage: :Ferry resolve local|container')
        return
      end
      local key, file = current_file()
      if not key then
        return
      end
      exec('ferry.server.conflicts', nil, function(result, c)
        local expect
        for _, entry in ipairs(result or {}) do
          if entry.folder == key.folder and entry.slot == key.slot then
            for _, k in ipairs(entry.conflicts or {}) do
              if k.path == key.path then
                expect = k.versions
              end
            end
          end
        end
        if not expect then
          fail(('%s has no open conflict'):format(key.path))
          return
        end
        local arg = vim.tbl_extend('force', key, { keep = keep, expect = expect })
        c:request('workspace/executeCommand', { command = 'ferry.server.resolve', arguments = { arg } }, function(err, r)
          if err then
            fail(err.message or 'resolve failed')
            return
          end
          client_mod.reload_under(vim.fs.dirname(file))
          echo({ 'ferry: ' .. ((r and r.done) or 'resolved') })
        end)
      end)
    end,
  },
  compare = {
    run = function()
      local key = current_file()
      local c = key and need_client()
      if c then
        client_mod.compare_with_container({ arguments = { key } }, { client_id = c.id, bufnr = 0 })
      end
    end,
  },
}

--- Runs `:Ferry {args}`.
---@param cmd table the user command's argument (`fargs`)
function M.run(cmd)
  local args = cmd.fargs or {}
  local name = args[1] or 'status'
  local sub = M.subcommands[name]
  if not sub then
    fail(('unknown subcommand %q; one of: %s'):format(name, table.concat(M.names(), ', ')))
    return
  end
  sub.run(vim.list_slice(args, 2))
end

--- The subcommands' names, sorted.
---@return string[]
function M.names()
  local names = vim.tbl_keys(M.subcommands)
  table.sort(names)
  return names
end

--- Completion of `:Ferry …`.
---@param lead string
---@param line string
---@return string[]
function M.complete(lead, line)
  local words = vim.split(vim.trim(line:sub(1, #line - #lead)), '%s+')
  local candidates
  if #words <= 1 then
    candidates = M.names()
  else
    local sub = M.subcommands[words[2]]
    candidates = (sub and #words == 2) and sub.args or {}
  end
  return vim.tbl_filter(function(c)
    return c:sub(1, #lead) == lead
  end, candidates or {})
end

return M
