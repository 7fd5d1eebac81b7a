/**
 * Kernel modules for an initramfs without kmod: each `.ko` names its dependencies in the
 * `depends=` string of its `.modinfo` ELF section, so the load order (dependencies first) is
 * computed here at build time, and busybox `insmod` loads the list in that order at boot.
 */

export class KmodError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KmodError";
  }
}

const DEPENDS = new TextEncoder().encode("\0depends=");

/** The `depends=` list of a module image (names with `-` as in modinfo). */
export function moduleDepends(ko: Uint8Array): string[] {
  for (let i = 0; i + DEPENDS.length <= ko.length; i++) {
    let hit = true;
    for (let j = 0; j < DEPENDS.length && hit; j++) hit = ko[i + j] === DEPENDS[j];
    if (!hit) continue;
    let end = i + DEPENDS.length;
    while (end < ko.length && ko[end] !== 0) end++;
    const list = new TextDecoder().decode(ko.subarray(i + DEPENDS.length, end));
    return list === "" ? [] : list.split(",");
  }
  throw new KmodError("module has no depends= entry in its modinfo (not a kernel module?)");
}

/** Canonical module name: `sev-guest` and `sev_guest` are the same module. */
export const modName = (name: string) => name.replaceAll("-", "_");

/**
 * Load order for `wanted` and everything they depend on. `lookup(name)` returns the module's
 * path and bytes, or undefined when the kernel does not have it; an `optional` wanted module that
 * is missing is skipped, a missing dependency is an error.
 */
export function loadOrder(
  wanted: { name: string; optional?: boolean }[],
  lookup: (name: string) => { path: string; ko: Uint8Array } | undefined,
): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, chain: string[]) => {
    const key = modName(name);
    if (state.get(key) === "done") return;
    if (state.get(key) === "visiting") {
      throw new KmodError(`module dependency cycle: ${[...chain, name].join(" -> ")}`);
    }
    const found = lookup(key);
    if (!found) {
      throw new KmodError(`module ${name} (needed by ${chain.at(-1) ?? "the image"}) is missing`);
    }
    state.set(key, "visiting");
    for (const dep of moduleDepends(found.ko)) visit(dep, [...chain, name]);
    state.set(key, "done");
    order.push(found.path);
  };
  for (const w of wanted) {
    if (w.optional && !lookup(modName(w.name))) continue;
    visit(w.name, []);
  }
  return order;
}
