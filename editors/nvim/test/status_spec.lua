-- lua/ferry/status.lua: the statusline text and `:Ferry status` lines of payloads.
local status = require('ferry.status')

local function path(over)
  return vim.tbl_extend('force', {
    id = 0,
    folder = 'file:///home/me/project',
    name = 'web',
    localPath = '/home/me/project/src',
    containerPath = '/app',
    state = 'watching',
    pod = 'web-1',
    container = 'main',
    pending = 0,
    pendingUp = 0,
    pendingDown = 0,
    total = 0,
    uploaded = 12,
    downloaded = 3,
    deleted = 1,
    lastError = vim.NIL,
    problemCount = 0,
    problems = {},
  }, over or {})
end

local function payload(paths, over)
  return vim.tbl_extend('force', { version = 1, health = 'ok', paths = paths }, over or {})
end

local S = {}

function S.in_sync()
  local v = status.format(payload({ path() }))
  T.eq('ferry ✓', v.text)
  T.eq('ok', v.look)
  T.eq('in sync', v.headline)
end

function S.transfers_show_up_and_down()
  local v = status.format(payload({ path({ state = 'uploading', pendingUp = 3, pendingDown = 1, pending = 4, total = 4 }) }))
  T.eq('ferry ↑3 ↓1', v.text)
  T.eq('busy', v.look)
end

function S.initial_sync_percentage()
  T.eq('ferry 42%', status.format(payload({ path({ state = 'initialSync', total = 100, pending = 58 }) })).text)
  T.eq('ferry … initial sync', status.format(payload({ path({ state = 'initialSync' }) })).text)
end

function S.connecting()
  T.eq('ferry … connecting', status.format(payload({ path({ state = 'connecting' }) })).text)
end

function S.no_pod_is_an_error_with_a_short_reason()
  local v = status.format(payload({
    path({ state = 'error', lastError = 'no Running and Ready pod matches app=web in dev' }),
  }, { health = 'error' }))
  T.eq('ferry ✗ no pod', v.text)
  T.eq('error', v.look)
  T.eq('web cannot sync: no Running and Ready pod matches app=web in dev', v.error)
end

function S.the_failing_path_is_named_among_several()
  local v = status.format(payload({ path(), path({ id = 1, name = 'api', state = 'error', lastError = 'connection refused' }) }))
  T.eq('ferry ✗ api no cluster', v.text)
end

function S.short_reasons()
  T.eq('no pod', status.short_reason('pod web-1 not found'))
  T.eq('no cluster', status.short_reason('cannot reach the cluster: timeout'))
  T.eq('container unusable', status.short_reason('no shell in the container'))
  T.eq('connection lost', status.short_reason("the watcher in the container stopped: the watcher's stream ended"))
  T.eq('error', status.short_reason(nil))
end

function S.problems_are_counted()
  local v = status.format(payload({ path({ problemCount = 2 }) }, { health = 'warning' }))
  T.eq('ferry ✓ ! 2 problems', v.text)
  T.eq('warning', v.look)
end

function S.stopped()
  T.eq('ferry ■ stopped', status.format(payload({ path({ state = 'stopped' }) }, { health = 'stopped' })).text)
end

function S.locked_names_the_owner()
  local v = status.format(payload({}, {
    folders = { { uri = 'file:///p', state = 'locked', message = 'file:///p is synced by ferry sync (pid 42); it takes over when that ends' } },
  }))
  T.eq('ferry ⊘ locked by ferry sync (pid 42)', v.text)
  T.eq('locked', v.look)
end

function S.config_error()
  local v = status.format(payload({}, { folders = { { uri = 'file:///p', state = 'configError', message = 'bad' } } }))
  T.eq('ferry ✗ config error', v.text)
  T.eq('error', v.look)
end

function S.no_config()
  T.eq('ferry: no config', status.format(payload({}, { folders = { { uri = 'file:///p', state = 'noConfig' } } })).text)
end

function S.unknown_version()
  T.eq('ferry ! unknown status', status.format({ version = 2, paths = {} }).text)
end

function S.symbols_can_be_replaced()
  T.eq('ferry OK', status.format(payload({ path() }), { ok = 'OK' }).text)
end

function S.report_lists_every_path()
  local lines = status.report(payload({
    path({ problemCount = 1, problems = { { path = 'a.txt', kind = 'conflict', message = 'both changed' } } }),
  }, { health = 'warning' }))
  T.eq('ferry ✓ ! 1 problem — 1 problem', lines[1])
  T.eq('web: watching · src ⇄ /app · pod web-1/main', lines[2])
  T.eq('  12 up, 3 down, 1 deleted', lines[3])
  T.eq('  1 problem:', lines[4])
  T.eq('  - a.txt (conflict): both changed', lines[5])
end

function S.report_lists_replicas()
  local lines = status.report(payload({
    path({
      pod = 'web-a',
      replicas = {
        { pod = 'web-a', podUid = 'ua', role = 'primary', state = 'watching', uploaded = 4, deleted = 0 },
        { pod = 'web-b', podUid = 'ub', role = 'secondary', state = 'uploading', pending = 2, uploaded = 3, deleted = 1 },
        { pod = 'web-c', podUid = 'uc', role = 'secondary', state = 'error', lastError = 'gone', problemCount = 1 },
      },
    }),
  }))
  T.eq('  3 replicas:', lines[4])
  T.eq('  - web-a (primary) · watching · 4 up, 0 deleted', lines[5])
  T.eq('  - web-b (secondary) · uploading · pending 2 · 3 up, 1 deleted', lines[6])
  T.eq('  - web-c (secondary) · error · 0 up, 0 deleted · 1 problem — gone', lines[7])
  T.eq(3, #status.report(payload({ path() })))
end

function S.folder_names()
  T.eq('my project', status.folder_name('file:///home/me/my%20project/'))
  T.eq('/home/me/p', status.uri_path('file:///home/me/p'))
end

function S.local_path_is_found_by_folder_and_slot()
  local paths = { paths = {
    { folder = 'file:///a/', id = 'app#0', localPath = '/a/src' },
    { folder = 'file:///a/', id = 'app#1', localPath = '/a/web' },
    { folder = 'file:///b/', id = 'app#0', localPath = '/b' },
  } }
  T.eq('/a/web', status.local_path(paths, 'file:///a/', 'app#1'))
  T.eq('/b', status.local_path(paths, 'file:///b/', 'app#0'))
  T.eq(nil, status.local_path(paths, 'file:///c/', 'app#0'))
  T.eq(nil, status.local_path(nil, 'file:///a/', 'app#0'))
end

return S
