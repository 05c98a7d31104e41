// Whether a window has anything for ferry to sync: the config files the server looks for
// in each workspace folder (`config::CONFIG_FILE_NAMES` in the server, docs/config.md).
// Pure: the caller says which files exist.

/** The config files, relative to a workspace folder, in the server's order. */
export const CONFIG_FILES = ['devspace.yaml', '.devspace/config.yaml'] as const;

/**
 * The files to look for in each folder: `ferry.configPath` when it is set (the server
 * then reads only that file), else the default names.
 */
export function configCandidates(configPath: string | null | undefined): string[] {
  const custom = configPath?.trim();
  return custom ? [custom] : [...CONFIG_FILES];
}

/** A glob (relative to a folder) matching the candidates, for a file watcher. */
export function configGlob(candidates: readonly string[]): string {
  return candidates.length === 1 ? candidates[0] : `{${candidates.join(',')}}`;
}

/** Whether any folder holds a candidate: `exists(folderIndex, relativePath)`. */
export async function anyConfigured(
  folders: number,
  candidates: readonly string[],
  exists: (folder: number, file: string) => Promise<boolean>,
): Promise<boolean> {
  for (let f = 0; f < folders; f++) {
    for (const c of candidates) if (await exists(f, c)) return true;
  }
  return false;
}
