/**
 * The client's memory between runs, injected: the last checkpoint seen of each pinned log (so a
 * log cannot fork behind the client's back) and unused Privacy Pass tokens (so a batch serves
 * many requests). Values are short texts under names of `[a-z0-9._-]`.
 *
 * `update` is an atomic read-modify-write: two processes sharing a state folder never take the
 * same token (spending one twice would link two requests). `fileStorage(dir)` holds an exclusive
 * lock on `DIR/.lock` for each update and replaces files atomically (write, fsync, rename), mode
 * 0600 in a 0700 folder: tokens are bearer credentials. `memoryStorage()` is for tests and
 * embedders that keep state elsewhere.
 */
export interface Storage {
  get(name: string): Promise<string | undefined>;
  /** Replaces the value with `change(current)` (undefined deletes it), atomically. */
  update(name: string, change: (current: string | undefined) => string | undefined): Promise<void>;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;

function checkName(name: string): void {
  if (!NAME.test(name)) throw new TypeError(`storage name "${name}" is not [a-z0-9._-]`);
}

export function memoryStorage(): Storage & { values: Map<string, string> } {
  const values = new Map<string, string>();
  return {
    values,
    // deno-lint-ignore require-await
    async get(name) {
      checkName(name);
      return values.get(name);
    },
    // deno-lint-ignore require-await
    async update(name, change) {
      checkName(name);
      const next = change(values.get(name));
      if (next === undefined) values.delete(name);
      else values.set(name, next);
    },
  };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

export function fileStorage(dir: string): Storage {
  let ready: Promise<void> | undefined;
  const prepare = () => ready ??= Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  return {
    async get(name) {
      checkName(name);
      return await readIfExists(`${dir}/${name}`);
    },
    async update(name, change) {
      checkName(name);
      await prepare();
      using lock = await Deno.open(`${dir}/.lock`, { create: true, write: true, mode: 0o600 });
      await lock.lock(true);
      const path = `${dir}/${name}`;
      const next = change(await readIfExists(path));
      if (next === undefined) {
        await Deno.remove(path).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
        return;
      }
      const tmp = `${dir}/.${name}.tmp`;
      {
        using file = await Deno.open(tmp, {
          create: true,
          write: true,
          truncate: true,
          mode: 0o600,
        });
        const bytes = new TextEncoder().encode(next);
        for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
        await file.sync();
      }
      await Deno.rename(tmp, path);
    },
  };
}
