import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { formatStatus, type StatusPayload, type SyncPathStatus } from '../../src/status';

function path(over: Partial<SyncPathStatus> = {}): SyncPathStatus {
  return { id: 0, name: 'web', localPath: '/p/src', containerPath: '/app', state: 'watching', ...over };
}
function payload(over: Partial<StatusPayload> = {}): StatusPayload {
  return { version: 1, health: 'ok', paths: [path()], ...over };
}

test('ok and idle: a check mark', () => {
  const v = formatStatus(payload());
  assert.equal(v.text, '$(check) ferry');
  assert.equal(v.severity, 'none');
  assert.match(v.tooltip, /web: watching/);
});

test('pending transfers show arrows', () => {
  const v = formatStatus(payload({ paths: [path({ state: 'uploading', pendingUp: 3, pendingDown: 1, pending: 4 })] }));
  assert.equal(v.text, '$(sync~spin) ferry ↑3 ↓1');
});

test('initial sync shows its percentage', () => {
  const v = formatStatus(payload({ paths: [path({ state: 'initialSync', total: 200, pending: 50 })] }));
  assert.equal(v.text, '$(sync~spin) ferry: initial sync 75%');
});

test('an error state with the last error in the tooltip', () => {
  const v = formatStatus(
    payload({ health: 'error', paths: [path({ state: 'error', lastError: 'no pod matches app=web' })] }),
  );
  assert.equal(v.text, '$(error) ferry: error');
  assert.equal(v.severity, 'error');
  assert.match(v.tooltip, /web: error — no pod matches app=web/);
});

test('one failing path of several is named', () => {
  const v = formatStatus(
    payload({ health: 'error', paths: [path(), path({ id: 1, name: 'api', state: 'error', lastError: 'x' })] }),
  );
  assert.equal(v.text, '$(error) ferry: api error');
});

test('per-file problems: a warning with their count', () => {
  const v = formatStatus(payload({ health: 'warning', paths: [path({ problemCount: 2 })] }));
  assert.equal(v.text, '$(warning) ferry (2 problems)');
  assert.equal(v.severity, 'warning');
});

test('stopped', () => {
  assert.equal(formatStatus(payload({ health: 'stopped', paths: [path({ state: 'stopped' })] })).text, '$(stop-circle) ferry: stopped');
});

test('folders: no config, locked, config error', () => {
  const noConfig = formatStatus(
    payload({ health: 'stopped', paths: [], folders: [{ uri: 'file:///n', state: 'noConfig', message: 'no sync configured' }] }),
  );
  assert.equal(noConfig.text, 'ferry: no config');
  assert.match(noConfig.tooltip, /file:\/\/\/n: noConfig — no sync configured/);
  const locked = formatStatus(payload({ paths: [], folders: [{ uri: 'file:///l', state: 'locked', message: 'pid 7' }] }));
  assert.equal(locked.text, '$(lock) ferry: locked');
  const bad = formatStatus(payload({ health: 'error', paths: [], folders: [{ uri: 'file:///c', state: 'configError' }] }));
  assert.equal(bad.text, '$(error) ferry: config error');
});

test('an unknown version is not guessed at', () => {
  const v = formatStatus({ version: 2, health: 'ok', paths: [] });
  assert.equal(v.text, '$(warning) ferry: unknown status');
});
