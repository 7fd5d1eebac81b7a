/**
 * ioctl(2) on a character device through Deno FFI to libc (needs `--allow-ffi`), behind the
 * small `Device` interface the guest-device providers use, so tests substitute a fake that
 * behaves like the kernel driver.
 *
 * `_IOWR` numbers follow include/uapi/asm-generic/ioctl.h: dir 3 (read|write) in bits 30-31,
 * the argument size in bits 16-29, the type character in bits 8-15, the number in bits 0-7.
 */
import { ProviderError } from "./provider.ts";

/** `_IOWR(type, nr, size)`. */
export function iowr(type: string, nr: number, size: number): number {
  return ((3 << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
}

export interface Device {
  /** ioctl(fd, request, arg); resolves to 0 or rejects with the errno in a ProviderError. */
  ioctl(request: number, arg: Uint8Array): number;
  /** The user-space address of a buffer, for structures that point at other buffers. */
  address(buffer: Uint8Array): bigint;
  close(): void;
}

/** The errno of a failed ioctl (the kernel's answer) with the firmware/VMM detail, if any. */
export class IoctlError extends ProviderError {
  constructor(readonly errno: number, message: string) {
    super(errno === 16 /* EBUSY */ || errno === 11 /* EAGAIN */ ? "busy" : "device", message);
  }
}

const O_RDWR = 2;

/** Opens a device through libc; `ProviderError("unavailable")` if it does not exist. */
export function openDevice(path: string): Device {
  let lib;
  try {
    lib = Deno.dlopen("libc.so.6", {
      open: { parameters: ["buffer", "i32"], result: "i32" },
      ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      __errno_location: { parameters: [], result: "pointer" },
    });
  } catch (e) {
    throw new ProviderError(
      "unavailable",
      `cannot load libc for ioctl: ${e instanceof Error ? e.message : e}`,
    );
  }
  const errno = () => {
    const p = lib.symbols.__errno_location();
    return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
  };
  const fd = lib.symbols.open(new TextEncoder().encode(`${path}\0`), O_RDWR);
  if (fd < 0) {
    const e = errno();
    lib.close();
    throw new ProviderError(e === 2 ? "unavailable" : "device", `cannot open ${path} (errno ${e})`);
  }
  return {
    ioctl(request, arg) {
      const ret = lib.symbols.ioctl(fd, BigInt(request), arg as Uint8Array<ArrayBuffer>);
      return ret < 0 ? errno() : 0;
    },
    address: (buffer) =>
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer as Uint8Array<ArrayBuffer>))),
    close() {
      lib.symbols.close(fd);
      lib.close();
    },
  };
}
