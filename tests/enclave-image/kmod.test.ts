import assert from "node:assert/strict";
import { KmodError, loadOrder, moduleDepends } from "../../enclave-image/kmod.ts";

/** A stand-in module image: only its .modinfo strings matter to the loader order. */
const ko = (depends: string) =>
  new TextEncoder().encode(`\x7fELF...\0license=GPL\0depends=${depends}\0vermagic=6.1\0`);

const modules: Record<string, Uint8Array> = {
  virtio_ring: ko(""),
  virtio: ko("virtio_ring"),
  virtio_pci_modern_dev: ko(""),
  virtio_pci: ko("virtio_ring,virtio_pci_modern_dev,virtio"),
  virtio_net: ko("virtio_ring,virtio,net_failover"),
  net_failover: ko("failover"),
  failover: ko(""),
  sev_guest: ko(""),
};
const lookup = (name: string) =>
  modules[name] ? { path: `kernel/${name}.ko`, ko: modules[name] } : undefined;

Deno.test("moduleDepends reads the modinfo depends= list", () => {
  assert.deepEqual(moduleDepends(modules.virtio_pci), [
    "virtio_ring",
    "virtio_pci_modern_dev",
    "virtio",
  ]);
  assert.deepEqual(moduleDepends(modules.failover), []);
  assert.throws(() => moduleDepends(new Uint8Array(16)), KmodError);
});

Deno.test("loadOrder puts every dependency first, once; optional missing modules are skipped", () => {
  const order = loadOrder(
    [{ name: "virtio_pci" }, { name: "virtio_net" }, { name: "sev-guest" }, {
      name: "tdx-guest",
      optional: true,
    }],
    lookup,
  ).map((p) => p.slice(7, -3));
  assert.deepEqual(order, [
    "virtio_ring",
    "virtio_pci_modern_dev",
    "virtio",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
    "sev_guest",
  ]);
  assert.throws(() => loadOrder([{ name: "tdx-guest" }], lookup), /tdx-guest .* is missing/);
});
