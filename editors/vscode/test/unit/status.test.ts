import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { folderName, formatStatus, lockOwner, md, shortReason, type StatusPayload, type SyncPathStatus } from '../../src/status';

const clock = (ms: number) => `T${ms}`;
function path(over: Partial<SyncPathStatus> = {}): SyncPathStatus {
  return { id: 0, folder: 'file:///p', name: 'web', localPath: '/p/src', containerPath: '/app', state: 'watching', ...over };
}
function payload(over: Partial<StatusPayload> = {}): StatusPayload {
  return { version: 1, health: 'ok', paths: [path()], ...over };
}
const view = (p: StatusPayload) => formatStatus(p, clock);

test('in sync: a check mark; the tooltip has the folders, the pod and the counts', () => {
  const v = view(payload({ paths: [path({ pod: 'web-1', container: 'main', uploaded: 3, downloaded: 2, deleted: 1, lastActivity: 5 })] }));
  assert.equal(v.text, '$(check) ferry');
  assert.equal(v.look, 'ok');
  assert.equal(v.severity, 'none');
  assert.match(v.tooltip, /\*\*ferry\*\* · in sync/);
  assert.match(v.tooltip, /`src` ⇄ `\/app` · pod `web-1\/main`/);
  assert.match(v.tooltip, /3 up, 2 down, 1 deleted · last activity T5/);
  assert.match(v.tooltip, /\[Show Log\]\(command:ferry\.showLog\)/);
  assert.match(v.tooltip, /\[Stop\]\(command:ferry\.stop\)/);
  assert.equal(v.label, 'ferry; web: watching (web-1/main)');
});

test('pending transfers show arrows and spin', () => {
  const v = view(payload({ paths: [path({ state: 'uploading', pendingUp: 3, pendingDown: 1, pending: 4 })] }));
  assert.equal(v.text, '$(sync~spin) ferry ↑3 ↓1');
  assert.equal(v.look, 'busy');
  assert.match(v.tooltip, /pending ↑3 ↓1/);
});

test('the initial sync shows its percentage, bounded', () => {
  assert.equal(view(payload({ paths: [path({ state: 'initialSync', total: 200, pending: 50 })] })).text, '$(sync~spin) ferry: initial sync 75%');
  assert.equal(view(payload({ paths: [path({ state: 'initialSync', total: 0 })] })).text, '$(sync~spin) ferry: initial sync');
  assert.equal(view(payload({ paths: [path({ state: 'initialSync', total: 10, pending: 20 })] })).text, '$(sync~spin) ferry: initial sync 0%');
  assert.equal(view(payload({ paths: [path({ state: 'connecting' })] })).text, '$(sync~spin) ferry: connecting');
});

test('a path that cannot sync: the error look with a short reason, the whole error in the tooltip', () => {
  const v = view(payload({ health: 'error', paths: [path({ state: 'error', lastError: 'no Running and Ready pod matches app=web in ns' })] }));
  assert.equal(v.text, '$(error) ferry: no pod');
  assert.equal(v.look, 'error');
  assert.equal(v.severity, 'error');
  assert.match(v.tooltip, /web\*\* · error/);
  assert.match(v.tooltip, /no Running and Ready pod matches app=web in ns/);
  assert.match(v.label, /web: error — no Running and Ready pod/);
});

test('one failing path of several is named', () => {
  const v = view(payload({ health: 'error', paths: [path(), path({ id: 1, name: 'api', state: 'error', lastError: 'x' })] }));
  assert.equal(v.text, '$(error) ferry: api error');
});

test('short reasons', () => {
  assert.equal(shortReason('cannot reach the cluster at https://127.0.0.1:1: connection refused'), 'no cluster');
  assert.equal(shortReason('no Running and Ready pod matches app=web'), 'no pod');
  assert.equal(shortReason("the watcher in the container stopped: the watcher's stream ended"), 'connection lost');
  assert.equal(shortReason('something else'), 'error');
  assert.equal(shortReason(null), 'error');
});

test('per-file problems: the warning look with their count; the first ones listed', () => {
  const problems = [1, 2, 3, 4].map((i) => ({ path: `f${i}.txt`, kind: 'error', message: `m${i}` }));
  const v = view(payload({ health: 'warning', paths: [path({ problemCount: 4, problems })] }));
  assert.equal(v.text, '$(warning) ferry (4 problems)');
  assert.equal(v.look, 'warning');
  assert.equal(v.severity, 'warning');
  assert.match(v.tooltip, /`f1\.txt` \(error\): m1/);
  assert.match(v.tooltip, /`f3\.txt`/);
  assert.doesNotMatch(v.tooltip, /`f4\.txt`/);
  assert.match(v.tooltip, /and 1 more/);
});

test('stopped: its own look, and the tooltip offers Start', () => {
  const v = view(payload({ health: 'stopped', paths: [path({ state: 'stopped' })] }));
  assert.equal(v.text, '$(stop-circle) ferry: stopped');
  assert.equal(v.look, 'stopped');
  assert.match(v.tooltip, /\[Start\]\(command:ferry\.start\)/);
});

test('locked: names the other owner', () => {
  const message = 'this workspace is already synced by ferry sync (pid 4242); stop it first, or let it sync';
  const v = view(payload({ paths: [], folders: [{ uri: 'file:///l', state: 'locked', message }] }));
  assert.equal(v.text, '$(lock) ferry: locked by ferry sync (pid 4242)');
  assert.equal(v.look, 'locked');
  assert.equal(lockOwner('… synced by another process (its lock file does not say which)'), undefined);
});

test('folders: no config, config error', () => {
  const noConfig = view(payload({ health: 'stopped', paths: [], folders: [{ uri: 'file:///n', state: 'noConfig', message: 'no sync configured' }] }));
  assert.equal(noConfig.text, 'ferry: no config');
  assert.match(noConfig.tooltip, /\*\*n\*\* · noConfig — no sync configured/);
  const bad = view(payload({ health: 'error', paths: [], folders: [{ uri: 'file:///c', state: 'configError', message: 'line 3' }] }));
  assert.equal(bad.text, '$(error) ferry: config error');
  assert.equal(bad.look, 'error');
});

test('multi-root: every folder with its paths and states', () => {
  const v = view(
    payload({
      health: 'error',
      paths: [path({ folder: 'file:///w/one', localPath: '/w/one/src', pod: 'web-1' }), path({ folder: 'file:///w/two', localPath: '/w/two', state: 'error', lastError: 'no Running and Ready pod' })],
      folders: [
        { uri: 'file:///w/one', state: 'syncing' },
        { uri: 'file:///w/two', state: 'syncing' },
      ],
    }),
  );
  assert.equal(v.text, '$(error) ferry: web no pod');
  assert.match(v.tooltip, /\*\*one\*\* · syncing[^]*web\*\* · watching[^]*\*\*two\*\* · syncing[^]*web\*\* · error/);
  assert.match(v.tooltip, /`\.` ⇄ `\/app`/);
});

test('text from the cluster cannot inject Markdown or links', () => {
  const v = view(payload({ paths: [path({ state: 'error', lastError: '[click](command:evil) **x**' })] }));
  assert.doesNotMatch(v.tooltip, /\[click\]\(command:evil\)/);
  assert.equal(md('a_b*c'), 'a\\_b\\*c');
  const odd = view(payload({ paths: [path({ pod: 'x`y' })] }));
  assert.match(odd.tooltip, /pod `x'y`/);
});

test('folder names from URIs', () => {
  assert.equal(folderName('file:///home/me/my%20project/'), 'my project');
  assert.equal(folderName('not a uri'), 'not a uri');
});

test('an unknown version is not guessed at', () => {
  assert.equal(view({ version: 2, health: 'ok', paths: [] }).text, '$(warning) ferry: unknown status');
});

test('replicas: the tooltip lists every pod with its role, state and error; the label counts them', () => {
  const v = view(
    payload({
      health: 'warning',
      paths: [
        path({
          pod: 'web-a',
          uploaded: 4,
          replicas: [
            { pod: 'web-a', podUid: 'ua', role: 'primary', state: 'watching', uploaded: 4, deleted: 0 },
            { pod: 'web-b', podUid: 'ub', role: 'secondary', state: 'uploading', pending: 2, uploaded: 3, deleted: 1 },
            { pod: 'web_c', podUid: 'uc', role: 'secondary', state: 'error', lastError: 'the replica is *gone*', problemCount: 1 },
          ],
        }),
      ],
    }),
  );
  assert.match(v.tooltip, /3 replicas:/);
  assert.match(v.tooltip, /- `web-a` \(primary\) · watching · 4 up, 0 deleted/);
  assert.match(v.tooltip, /- `web-b` \(secondary\) · uploading · pending 2 · 3 up, 1 deleted/);
  // Text from the cluster is escaped for Markdown.
  assert.match(v.tooltip, /- `web_c` \(secondary\) · error · 0 up, 0 deleted · 1 problem — the replica is \\\*gone\\\*/);
  assert.match(v.label, /web: watching \(web-a\) — 3 replicas$/);
});

test('a path of one pod lists no replicas', () => {
  const v = view(payload({ paths: [path({ pod: 'web-1' })] }));
  assert.doesNotMatch(v.tooltip, /replica/);
});
