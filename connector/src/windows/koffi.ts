/**
 * koffi (https://koffi.dev, npm `koffi`), the FFI the exe calls Windows APIs with, loaded from the
 * native module installed beside so-connector.exe (koffi.node, from npm @koromix/koffi-win32-x64,
 * signed with the exe). Only the part of koffi's API this folder uses is typed here.
 */
import path from 'node:path';
import { ConnectorError } from '../errors';

/** A C function bound by koffi; `.async` runs it on a worker thread and calls back with its result. */
export interface KoffiFunction {
  (...args: unknown[]): unknown;
  async(...args: unknown[]): void;
}

export interface KoffiLibrary {
  func(declaration: string): KoffiFunction;
}

/** A type koffi knows (struct, prototype, pointer); opaque to us. */
export type KoffiType = object;

export interface Koffi {
  readonly version: string;
  load(library: string): KoffiLibrary;
  struct(name: string, fields: Record<string, string | KoffiType>): KoffiType;
  array(type: string | KoffiType, length: number): KoffiType;
  proto(declaration: string): KoffiType;
  pointer(type: KoffiType): KoffiType;
  /** A C function pointer calling `fn`; calls from other threads are queued to the main thread. */
  register(fn: (...args: never[]) => unknown, type: KoffiType): object;
  unregister(callback: object): void;
}

/** The koffi version the build installs beside the exe (connector/windows/runtime). */
export const KOFFI_VERSION = '3.3.4';

let loaded: Koffi | undefined;

/** koffi's native module from beside the running exe (or `file`). @throws ConnectorError WINDOWS_FFI_MISSING */
export function loadKoffi(file = path.join(path.dirname(process.execPath), 'koffi.node')): Koffi {
  if (loaded) return loaded;
  if (process.platform !== 'win32') throw new ConnectorError('WINDOWS_ONLY', 'this command runs only on Windows', { permanent: true });
  const module = { exports: {} as Koffi };
  try {
    process.dlopen(module, file);
  } catch (cause) {
    throw new ConnectorError(
      'WINDOWS_FFI_MISSING',
      `cannot load ${file} (installed with so-connector.exe by the MSI): ${(cause as Error).message}. Repair or reinstall the so-backup connector.`,
      { permanent: true, cause },
    );
  }
  if (module.exports.version !== KOFFI_VERSION) {
    throw new ConnectorError(
      'WINDOWS_FFI_MISSING',
      `${file} is koffi ${module.exports.version}, this exe needs ${KOFFI_VERSION}: reinstall the so-backup connector`,
      { permanent: true },
    );
  }
  loaded = module.exports;
  return loaded;
}
