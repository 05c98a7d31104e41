// The local Kubernetes cluster for the run (`ferry-cluster up --dir D`, tests/cluster):
// started once, always torn down (`ferry-cluster down --dir D`), and a small client for
// its API and its control interface (`/control/v1/…`) with the kubeconfig's CA and token.
import { Buffer } from 'node:buffer';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { URL } from 'node:url';
import { say, sleep, until } from './util.mjs';

export class Cluster {
  /** Starts `bin up --dir dir` and waits (60 s) for `dir/kubeconfig`. */
  static async up(bin, dir) {
    fs.mkdirSync(dir, { recursive: true });
    const log = fs.openSync(path.join(dir, 'cluster.log'), 'w');
    const child = spawn(bin, ['up', '--dir', dir, '--log', 'info'], { stdio: ['ignore', log, log] });
    const c = new Cluster(bin, dir, child);
    const kubeconfig = path.join(dir, 'kubeconfig');
    const deadline = Date.now() + 60_000;
    while (!fs.existsSync(kubeconfig)) {
      if (child.exitCode !== null) throw new Error(`ferry-cluster exited (${child.exitCode}) before it was ready:\n${c.log()}`);
      if (Date.now() > deadline) throw new Error(`ferry-cluster wrote no kubeconfig within 60 s:\n${c.log()}`);
      await sleep(50);
    }
    c.kubeconfig = kubeconfig;
    const text = fs.readFileSync(kubeconfig, 'utf8');
    const field = (name) => {
      const m = new RegExp(`${name}:\\s*['"]?([^\\s'"]+)`).exec(text);
      if (!m) throw new Error(`no ${name} in ${kubeconfig}:\n${text}`);
      return m[1];
    };
    c.server = new URL(field('server'));
    c.ca = Buffer.from(field('certificate-authority-data'), 'base64');
    c.token = field('token');
    return c;
  }

  constructor(bin, dir, child) {
    this.bin = bin;
    this.dir = dir;
    this.child = child;
  }

  log() {
    try {
      return fs.readFileSync(path.join(this.dir, 'cluster.log'), 'utf8').slice(-4000);
    } catch {
      return '';
    }
  }

  /** `ferry-cluster down --dir D` (idempotent), then makes sure the child is gone. */
  down() {
    if (this.stopped) return;
    this.stopped = true;
    try {
      execFileSync(this.bin, ['down', '--dir', this.dir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    } catch (err) {
      say(`ferry-cluster down failed: ${err.stderr ?? err.message}`);
    }
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  /** One HTTPS request; resolves `{ status, body: Buffer }`. */
  request(method, apiPath, body) {
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          method,
          host: this.server.hostname,
          port: this.server.port,
          path: apiPath,
          ca: this.ca,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${apiPath}: timed out`)));
      req.end(data);
    });
  }

  async json(method, apiPath, body) {
    const r = await this.request(method, apiPath, body);
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${apiPath}: ${r.status} ${r.body.toString()}`);
    return JSON.parse(r.body.toString() || 'null');
  }

  // --- Kubernetes API ---------------------------------------------------------------------
  createNamespace(ns) {
    return this.json('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }

  /** A Deployment `name` (1 replica, label `app: name`) of `podSpec`'s pods. */
  createDeployment(ns, name, podSpec) {
    return this.json('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: podSpec },
      },
    });
  }

  createPod(ns, name, podSpec) {
    return this.json('POST', `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app: name } },
      spec: podSpec,
    });
  }

  deletePod(ns, name) {
    return this.json('DELETE', `/api/v1/namespaces/${ns}/pods/${name}`);
  }

  /** The name of a Ready, not deleting pod labelled `app=app` other than `not` (waits). */
  readyPod(ns, app, { not, timeout = 60_000 } = {}) {
    return until(
      `a Ready pod app=${app} in ${ns}${not ? ` other than ${not}` : ''}`,
      async () => {
        const list = await this.json('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`app=${app}`)}`);
        const pods = list.items.map((p) => ({
          name: p.metadata.name,
          ready:
            !p.metadata.deletionTimestamp &&
            (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
          phase: p.status?.phase,
        }));
        const found = pods.find((p) => p.ready && p.name !== not);
        return found ? { ok: true, value: found.name } : { ok: false, seen: pods };
      },
      { timeout, every: 100 },
    );
  }

  // --- the control interface ---------------------------------------------------------------
  /** Runs `command` in the pod's container as root (or `user`): `{exit_code, stdout, stderr}`. */
  async run(ns, pod, command, { stdin = '', user } = {}) {
    const r = await this.json('POST', `/control/v1/namespaces/${ns}/pods/${pod}/run`, {
      command,
      stdin_base64: Buffer.from(stdin).toString('base64'),
      ...(user ? { user } : {}),
    });
    return { ...r, stdout: Buffer.from(r.stdout_base64 ?? '', 'base64').toString() };
  }

  /** `sh -c script` in the pod; throws unless it exits 0; its stdout. */
  async sh(ns, pod, script, opts) {
    const r = await this.run(ns, pod, ['sh', '-c', script], opts);
    if (r.exit_code !== 0) throw new Error(`\`${script}\` in ${ns}/${pod} exited ${r.exit_code}: ${r.stderr}`);
    return r.stdout;
  }

  /** A container file's content as text, or null when it does not exist. */
  async file(ns, pod, file) {
    const r = await this.request('GET', `/control/v1/namespaces/${ns}/pods/${pod}/file?path=${encodeURIComponent(file)}`);
    if (r.status === 404) return null;
    if (r.status !== 200) throw new Error(`file ${ns}/${pod}:${file}: ${r.status} ${r.body.toString()}`);
    return r.body.toString();
  }

  /** Exec-stream shaping: one-way latency and a per-stream bandwidth cap (0 = none). */
  async shape(latencyMs, bytesPerSec) {
    const s = await this.json('GET', '/control/v1/settings');
    s.shaping = { latency_ms: latencyMs, bandwidth_bytes_per_sec: bytesPerSec };
    await this.json('PUT', '/control/v1/settings', s);
  }
}

/** A busybox pod spec: a container `main` that sleeps, `/app` made, grace 1 s. */
export function busyboxSpec({ user, volume } = {}) {
  const spec = {
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'main',
        image: 'busybox',
        command: ['sh', '-c', "mkdir -p /app 2>/dev/null; trap 'exit 0' TERM; while true; do sleep 1; done"],
      },
    ],
  };
  if (user !== undefined) spec.securityContext = { runAsUser: user, runAsGroup: user };
  if (volume) {
    spec.volumes = [{ name: 'data', emptyDir: {} }];
    spec.containers[0].volumeMounts = [{ name: 'data', mountPath: volume }];
  }
  return spec;
}
