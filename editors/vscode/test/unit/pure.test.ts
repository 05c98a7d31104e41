import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { bundledPath, expandHome, findBinary, isFound } from '../../src/binary';
import { RestartBudget } from '../../src/budget';
import { serverEnv } from '../../src/env';
import { anyConfigured, CONFIG_FILES, configCandidates, configGlob } from '../../src/configured';
import { asFileKey, localFile, locate } from '../../src/locate';
import { esc, renderDoctor, renderList, renderStatus } from '../../src/render';
import { LineSplitter, parseLine } from '../../src/serverlog';

const lookup = (executables: string[], setting?: string) => ({
  setting,
  extensionPath: '/ext',
  pathEnv: '/usr/local/bin:/usr/bin',
  home: '/home/me',
  isExecutable: (f: string) => executables.includes(f),
});

test('binary: the setting first, then the bundled one, then PATH', () => {
  const all = ['/opt/ferry', '/ext/server/ferry', '/usr/bin/ferry'];
  assert.deepEqual(findBinary(lookup(all, '/opt/ferry')), { path: '/opt/ferry', source: 'setting' });
  assert.deepEqual(findBinary(lookup(all, '')), { path: '/ext/server/ferry', source: 'bundled' });
  assert.deepEqual(findBinary(lookup(['/usr/bin/ferry'])), { path: '/usr/bin/ferry', source: 'PATH' });
  assert.deepEqual(findBinary(lookup(['/home/me/bin/ferry'], '~/bin/ferry')), { path: '/home/me/bin/ferry', source: 'setting' });
  assert.deepEqual(findBinary(lookup(['/usr/bin/ferry-dev'], 'ferry-dev')), { path: '/usr/bin/ferry-dev', source: 'setting' });
  assert.equal(bundledPath('/ext'), '/ext/server/ferry');
  assert.equal(expandHome('~', '/h'), '/h');
});

test('binary: a setting naming a missing file is an error, not a fallback', () => {
  const r = findBinary(lookup(['/usr/bin/ferry'], '/nowhere/ferry'));
  assert.ok(!isFound(r));
  assert.ok(!isFound(r) && r.badSetting);
  assert.ok(!isFound(r) && r.tried[0]!.includes('/nowhere/ferry'));
  const none = findBinary(lookup([]));
  assert.ok(!isFound(none) && !none.badSetting && none.tried.length === 2);
});

test('env: extraEnv on top, ${env:NAME} expanded from the base, null unsets', () => {
  const env = serverEnv({ PATH: '/usr/bin', HOME: '/h', DROP: 'x' }, { PATH: '${env:HOME}/bin:${env:PATH}', DROP: null, N: 3, NONE: '${env:MISSING}' });
  assert.equal(env['PATH'], '/h/bin:/usr/bin');
  assert.ok(!('DROP' in env));
  assert.equal(env['N'], '3');
  assert.equal(env['NONE'], '');
  assert.equal(env['HOME'], '/h');
  assert.deepEqual(serverEnv({ A: '1' }, undefined), { A: '1' });
});

test('server log: tracing lines keep their level; others are shown as they are', () => {
  assert.deepEqual(parseLine('2026-12-02T04:53:16.123Z  WARN cannot reach the cluster'), { level: 'warn', message: 'cannot reach the cluster' });
  assert.deepEqual(parseLine('2026-12-02T04:53:16.123Z ERROR boom'), { level: 'error', message: 'boom' });
  assert.deepEqual(parseLine('2026-12-02T04:53:16.123Z  INFO initialized'), { level: 'info', message: 'initialized' });
  assert.equal(parseLine("thread 'main' panicked at x").level, 'error');
  assert.equal(parseLine('plain words').level, 'info');
  const s = new LineSplitter();
  assert.deepEqual(s.push('a\nb'), ['a']);
  assert.deepEqual(s.push('c\r\n\nd'), ['bc']);
  assert.deepEqual(s.flush(), ['d']);
});

test('restart budget: four restarts in three minutes, then it gives up; old crashes expire', () => {
  const b = new RestartBudget(4, 180_000);
  assert.deepEqual([0, 1, 2, 3].map((t) => b.crashed(t * 1000)), [true, true, true, true]);
  assert.equal(b.crashed(5000), false);
  assert.equal(b.crashed(200_000), true);
  b.reset();
  assert.equal(b.count, 0);
});

test('locate: the deepest sync path holding a file, and back', () => {
  const status = {
    version: 1,
    health: 'ok',
    paths: [
      { id: 0, folder: 'file:///w', name: 'all', localPath: '/w', containerPath: '/app', state: 'watching' },
      { id: 1, folder: 'file:///w', name: 'src', localPath: '/w/src/', containerPath: '/src', state: 'watching' },
    ],
  };
  assert.deepEqual(locate(status, '/w/src/a/b.txt'), { folder: 'file:///w', slot: 1, path: 'a/b.txt' });
  assert.deepEqual(locate(status, '/w/readme'), { folder: 'file:///w', slot: 0, path: 'readme' });
  assert.equal(locate(status, '/w2/x'), undefined);
  assert.equal(localFile(status, { folder: 'file:///w', slot: 1, path: 'a/b.txt' }), '/w/src/a/b.txt');
  assert.deepEqual(asFileKey({ folder: 'f', slot: 0, path: 'p', extra: 1 }), { folder: 'f', slot: 0, path: 'p' });
  assert.equal(asFileKey({ folder: 'f', slot: '0', path: 'p' }), undefined);
});

test('render: doctor, status and list are HTML tables, escaped, without raw JSON', () => {
  const doctor = renderDoctor([
    {
      folder: 'file:///w/app',
      report: {
        ok: false,
        checks: [
          { sync: null, what: 'cluster', status: 'ok', detail: 'reached <https://x>', fix: null },
          { sync: 'web', what: 'pod', status: 'error', detail: 'no pod', fix: 'start it' },
        ],
      },
    },
  ]);
  assert.match(doctor, /<h2>app: 1 problem to fix<\/h2>/);
  assert.match(doctor, /<td>cluster<\/td><td>reached &#60;https:\/\/x&#62;<\/td>/);
  assert.match(doctor, /✗/);
  assert.doesNotMatch(doctor, /\{"/);
  const status = renderStatus({ version: 1, health: 'warning', paths: [{ id: 0, name: 'web', localPath: '/w', containerPath: '/app', state: 'watching', pod: 'p', problems: [{ path: 'a', kind: 'error', message: 'ro' }] }] });
  assert.match(status, /ferry status: warning/);
  assert.match(status, /<h2>Problems<\/h2>/);
  const list = renderList([{ folder: 'file:///w', configFile: '/w/devspace.yaml', syncPaths: [{ name: 'web', localPath: '/w/src', containerPath: '/app', target: { labelSelector: { app: 'web' }, namespace: 'ns' }, excludes: { both: [{ text: 'node_modules/' }], upload: [], download: [{ text: '*.log' }] } }] }]);
  assert.match(list, /ns\/app=web/);
  assert.match(list, /node_modules\/; ↓ only: \*\.log/);
  assert.equal(esc('<a href="x">'), '&#60;a href=&#34;x&#34;&#62;');
});

test('configured: the default config files, or the one ferry.configPath names', async () => {
  assert.deepEqual(configCandidates(undefined), ['devspace.yaml', '.devspace/config.yaml']);
  assert.deepEqual(configCandidates(null), ['devspace.yaml', '.devspace/config.yaml']);
  assert.deepEqual(configCandidates('  '), ['devspace.yaml', '.devspace/config.yaml']);
  assert.deepEqual(configCandidates('dev/ferry.yaml'), ['dev/ferry.yaml']);
  assert.equal(configGlob(['devspace.yaml', '.devspace/config.yaml']), '{devspace.yaml,.devspace/config.yaml}');
  assert.equal(configGlob(['dev/ferry.yaml']), 'dev/ferry.yaml');
  const has = (files: string[][]) => (f: number, file: string) => Promise.resolve(files[f].includes(file));
  assert.equal(await anyConfigured(0, CONFIG_FILES, has([])), false);
  assert.equal(await anyConfigured(2, CONFIG_FILES, has([['README.md'], []])), false);
  // The second folder of a multi-root window, with the seed's file name.
  assert.equal(await anyConfigured(2, CONFIG_FILES, has([['README.md'], ['.devspace/config.yaml']])), true);
  assert.equal(await anyConfigured(1, ['other.yaml'], has([['devspace.yaml']])), false);
});
