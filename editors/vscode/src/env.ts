// The server's environment: the extension host's, with `ferry.server.extraEnv` on top.
// A VS Code started from a desktop launcher lacks the login shell's PATH, which
// kubeconfig exec plugins (cloud login helpers such as gke-gcloud-auth-plugin) need;
// `extraEnv` supplies it. Values may name other variables as `${env:NAME}`, so
// `{"PATH": "${env:HOME}/.local/bin:${env:PATH}"}` extends PATH. Pure.

export type Env = Record<string, string | undefined>;

/** `base` with `extra` applied: `${env:NAME}` expands from `base`; `null` unsets. */
export function serverEnv(base: Env, extra: Record<string, unknown> | undefined): Env {
  const out: Env = { ...base };
  for (const [key, value] of Object.entries(extra ?? {})) {
    if (value === null) {
      delete out[key];
    } else if (typeof value === 'string') {
      out[key] = value.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => base[name] ?? '');
    } else if (typeof value === 'number' || typeof value === 'boolean') {
      out[key] = String(value);
    }
  }
  return out;
}
