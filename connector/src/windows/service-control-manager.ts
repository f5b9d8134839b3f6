/**
 * The Windows Service Control Manager as this exe speaks to it (advapi32, through koffi): the
 * service side (StartServiceCtrlDispatcherW, RegisterServiceCtrlHandlerExW, SetServiceStatus)
 * and the installer side (OpenSCManagerW, ChangeServiceConfig2W, StartServiceW,
 * QueryServiceStatus). Constants and structures are those of winsvc.h
 * (https://learn.microsoft.com/windows/win32/api/winsvc/). The logic that uses them lives in
 * service-host.ts and service-setup.ts, behind the narrow interfaces below, so it is tested on
 * Linux with a recorder and on Windows semantics under Wine (scripts/windows-e2e.sh).
 */
import { spawnSync } from 'node:child_process';
import { ConnectorError } from '../errors';
import { type Koffi, type KoffiFunction, loadKoffi } from './koffi';

export const SERVICE_STATE = { STOPPED: 1, START_PENDING: 2, STOP_PENDING: 3, RUNNING: 4 } as const;
export const SERVICE_CONTROL = { STOP: 0x1, INTERROGATE: 0x4, SHUTDOWN: 0x5, PRESHUTDOWN: 0xf } as const;
export const SERVICE_ACCEPT = { STOP: 0x1, SHUTDOWN: 0x4, PRESHUTDOWN: 0x100 } as const;
export const WIN32_ERROR = {
  NO_ERROR: 0,
  ACCESS_DENIED: 5,
  CALL_NOT_IMPLEMENTED: 120,
  SERVICE_ALREADY_RUNNING: 1056,
  SERVICE_DOES_NOT_EXIST: 1060,
  FAILED_SERVICE_CONTROLLER_CONNECT: 1063,
  SERVICE_SPECIFIC_ERROR: 1066,
  INVALID_LEVEL: 124,
} as const;

/** SERVICE_STATUS, less dwServiceType (always SERVICE_WIN32_OWN_PROCESS here). */
export interface ServiceStatus {
  readonly state: number;
  readonly controlsAccepted: number;
  readonly win32ExitCode: number;
  readonly serviceSpecificExitCode: number;
  readonly checkPoint: number;
  /** Milliseconds the SCM waits for the next checkpoint of a pending state. */
  readonly waitHint: number;
}

/** The service process's side of the protocol. */
export interface ServiceDispatcher {
  /**
   * Connects this process to the SCM (StartServiceCtrlDispatcherW, on a worker thread so that
   * JavaScript keeps running) and calls `main` when the SCM starts the service. Resolves when the
   * service has reported SERVICE_STOPPED.
   * @throws ConnectorError NOT_STARTED_BY_SCM when the process was not started as a service.
   */
  run(name: string, main: () => void): Promise<void>;
  /** RegisterServiceCtrlHandlerExW: `handler(control)` returns a Win32 error code (0: handled). */
  registerHandler(name: string, handler: (control: number) => number): void;
  setStatus(status: ServiceStatus): void;
}

/** How the installed service starts and recovers (ChangeServiceConfig2W). */
export interface ServiceRecovery {
  readonly delayedAutoStart: boolean;
  /** Restart delays after the first, second and later failures. */
  readonly restartDelaysMs: readonly number[];
  /** Failure count is reset after this long without a failure. */
  readonly resetPeriodSeconds: number;
  /** Also restart when the service stops with an error exit code, not only when it crashes. */
  readonly restartOnErrorExit: boolean;
  /** How long the system waits for a clean stop before shutting down (SERVICE_CONTROL_PRESHUTDOWN). */
  readonly preshutdownTimeoutMs: number;
}

/** The installer's side. */
export interface ServiceManager {
  configure(name: string, recovery: ServiceRecovery): void;
  /** StartServiceW; a service that runs already is not an error. */
  start(name: string): void;
  /** The service's state and, while it runs, its process id; undefined when no such service is installed. */
  query(name: string): { state: number; win32ExitCode: number; serviceSpecificExitCode: number; processId: number } | undefined;
  /** Waits until process `processId` has ended; false when it still runs after `timeoutMs`. */
  waitForProcessExit(processId: number, timeoutMs: number): boolean;
  /**
   * The ids of the running processes whose program is `image` (a full path, compared without
   * regard to case, as Windows does), this process left out (K32EnumProcesses, QueryFullProcessImageNameW).
   */
  processesOf(image: string): number[];
}

const SERVICE_WIN32_OWN_PROCESS = 0x10;
const SC_MANAGER_CONNECT = 0x1;
const SERVICE_QUERY_CONFIG = 0x1;
const SERVICE_CHANGE_CONFIG = 0x2;
const SERVICE_QUERY_STATUS = 0x4;
const SERVICE_START = 0x10;
const SYNCHRONIZE = 0x100000;
const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
const WAIT_OBJECT_0 = 0;
const SC_ACTION_RESTART = 1;
const INFO = { FAILURE_ACTIONS: 2, DELAYED_AUTO_START_INFO: 3, FAILURE_ACTIONS_FLAG: 4, PRESHUTDOWN_INFO: 7 } as const;

interface Advapi {
  koffi: Koffi;
  serviceMainType: object;
  handlerType: object;
  StartServiceCtrlDispatcherW: KoffiFunction;
  RegisterServiceCtrlHandlerExW: KoffiFunction;
  SetServiceStatus: KoffiFunction;
  OpenSCManagerW: KoffiFunction;
  OpenServiceW: KoffiFunction;
  CloseServiceHandle: KoffiFunction;
  StartServiceW: KoffiFunction;
  QueryServiceStatusEx: KoffiFunction;
  OpenProcess: KoffiFunction;
  WaitForSingleObject: KoffiFunction;
  CloseHandle: KoffiFunction;
  ChangeFailureActions: KoffiFunction;
  ChangeDelayedAutoStart: KoffiFunction;
  ChangeFailureActionsFlag: KoffiFunction;
  ChangePreshutdown: KoffiFunction;
  GetLastError: KoffiFunction;
  GetCurrentProcess: KoffiFunction;
  GetCurrentProcessId: KoffiFunction;
  EnumProcesses: KoffiFunction;
  QueryFullProcessImageNameW: KoffiFunction;
  TerminateProcess: KoffiFunction;
}

let bound: Advapi | undefined;

function advapi(): Advapi {
  if (bound) return bound;
  const koffi = loadKoffi();
  const advapi32 = koffi.load('advapi32.dll');
  const kernel32 = koffi.load('kernel32.dll');
  /** SERVICE_STATUS (winsvc.h); SERVICE_STATUS_PROCESS begins with the same seven fields. */
  const serviceStatusFields = {
    dwServiceType: 'uint32',
    dwCurrentState: 'uint32',
    dwControlsAccepted: 'uint32',
    dwWin32ExitCode: 'uint32',
    dwServiceSpecificExitCode: 'uint32',
    dwCheckPoint: 'uint32',
    dwWaitHint: 'uint32',
  };
  koffi.struct('SERVICE_STATUS', serviceStatusFields);
  const serviceMainType = koffi.proto('void __stdcall SoServiceMain(uint32 argc, void *argv)');
  const handlerType = koffi.proto('uint32 __stdcall SoServiceHandlerEx(uint32 control, uint32 eventType, void *eventData, void *context)');
  koffi.struct('SERVICE_TABLE_ENTRYW', { lpServiceName: 'str16', lpServiceProc: koffi.pointer(serviceMainType) });
  koffi.struct('SERVICE_STATUS_PROCESS', {
    ...serviceStatusFields,
    dwProcessId: 'uint32',
    dwServiceFlags: 'uint32',
  });
  koffi.struct('SC_ACTION', { Type: 'int32', Delay: 'uint32' });
  koffi.struct('SERVICE_FAILURE_ACTIONSW', {
    dwResetPeriod: 'uint32',
    lpRebootMsg: 'str16',
    lpCommand: 'str16',
    cActions: 'uint32',
    lpsaActions: 'SC_ACTION *',
  });
  koffi.struct('SERVICE_DELAYED_AUTO_START_INFO', { fDelayedAutostart: 'int32' });
  koffi.struct('SERVICE_FAILURE_ACTIONS_FLAG', { fFailureActionsOnNonCrashFailures: 'int32' });
  koffi.struct('SERVICE_PRESHUTDOWN_INFO', { dwPreshutdownTimeout: 'uint32' });
  bound = {
    koffi,
    serviceMainType,
    handlerType,
    StartServiceCtrlDispatcherW: advapi32.func('bool __stdcall StartServiceCtrlDispatcherW(SERVICE_TABLE_ENTRYW *table)'),
    RegisterServiceCtrlHandlerExW: advapi32.func(
      'void * __stdcall RegisterServiceCtrlHandlerExW(str16 name, SoServiceHandlerEx *handler, void *context)',
    ),
    SetServiceStatus: advapi32.func('bool __stdcall SetServiceStatus(void *handle, SERVICE_STATUS *status)'),
    OpenSCManagerW: advapi32.func('void * __stdcall OpenSCManagerW(str16 machine, str16 database, uint32 access)'),
    OpenServiceW: advapi32.func('void * __stdcall OpenServiceW(void *manager, str16 name, uint32 access)'),
    CloseServiceHandle: advapi32.func('bool __stdcall CloseServiceHandle(void *handle)'),
    StartServiceW: advapi32.func('bool __stdcall StartServiceW(void *service, uint32 argc, void *argv)'),
    QueryServiceStatusEx: advapi32.func(
      'bool __stdcall QueryServiceStatusEx(void *service, int32 level, _Out_ SERVICE_STATUS_PROCESS *status, uint32 size, _Out_ uint32 *needed)',
    ),
    OpenProcess: kernel32.func('void * __stdcall OpenProcess(uint32 access, bool inherit, uint32 processId)'),
    WaitForSingleObject: kernel32.func('uint32 __stdcall WaitForSingleObject(void *handle, uint32 milliseconds)'),
    CloseHandle: kernel32.func('bool __stdcall CloseHandle(void *handle)'),
    ChangeFailureActions: advapi32.func(
      'bool __stdcall ChangeServiceConfig2W(void *service, uint32 level, SERVICE_FAILURE_ACTIONSW *info)',
    ),
    ChangeDelayedAutoStart: advapi32.func(
      'bool __stdcall ChangeServiceConfig2W(void *service, uint32 level, SERVICE_DELAYED_AUTO_START_INFO *info)',
    ),
    ChangeFailureActionsFlag: advapi32.func(
      'bool __stdcall ChangeServiceConfig2W(void *service, uint32 level, SERVICE_FAILURE_ACTIONS_FLAG *info)',
    ),
    ChangePreshutdown: advapi32.func('bool __stdcall ChangeServiceConfig2W(void *service, uint32 level, SERVICE_PRESHUTDOWN_INFO *info)'),
    GetLastError: kernel32.func('uint32 __stdcall GetLastError()'),
    GetCurrentProcess: kernel32.func('void * __stdcall GetCurrentProcess()'),
    GetCurrentProcessId: kernel32.func('uint32 __stdcall GetCurrentProcessId()'),
    EnumProcesses: kernel32.func('bool __stdcall K32EnumProcesses(_Out_ uint32 *pids, uint32 size, _Out_ uint32 *needed)'),
    QueryFullProcessImageNameW: kernel32.func(
      'bool __stdcall QueryFullProcessImageNameW(void *process, uint32 flags, _Out_ uint16 *name, _Inout_ uint32 *size)',
    ),
    TerminateProcess: kernel32.func('bool __stdcall TerminateProcess(void *process, uint32 exitCode)'),
  };
  return bound;
}

function win32Error(api: Advapi, what: string, code = api.GetLastError() as number): ConnectorError {
  const hint =
    code === WIN32_ERROR.ACCESS_DENIED
      ? ' (run it as an administrator)'
      : code === WIN32_ERROR.SERVICE_DOES_NOT_EXIST
        ? ' (the service is not installed)'
        : '';
  return Object.assign(
    new ConnectorError('WINDOWS_SERVICE_FAILED', `${what} failed with Windows error ${code}${hint}`, { permanent: true }),
    { win32Code: code },
  );
}

/**
 * Ends this process at once (TerminateProcess on itself), for the moment after SERVICE_STOPPED is
 * reported: an installer that stopped the service deletes or replaces the exe right away, and an
 * exe still mapped by a process that is winding down cannot be deleted. Flush logs first.
 */
export function terminateThisProcess(exitCode: number): never {
  const api = advapi();
  api.TerminateProcess(api.GetCurrentProcess(), exitCode);
  process.exit(exitCode); // not reached
}

/** The dispatcher side over advapi32. Callbacks stay registered for the life of the process. */
export function windowsServiceDispatcher(): ServiceDispatcher {
  const api = advapi();
  let handle: unknown = null;
  const keep: object[] = [];
  return {
    run: (name, main) =>
      new Promise<void>((resolve, reject) => {
        const serviceMain = api.koffi.register(() => main(), api.koffi.pointer(api.serviceMainType));
        keep.push(serviceMain);
        api.StartServiceCtrlDispatcherW.async(
          [
            { lpServiceName: name, lpServiceProc: serviceMain },
            { lpServiceName: null, lpServiceProc: null },
          ],
          (error: unknown, ok: unknown) => {
            if (error) return reject(error);
            if (ok) return resolve();
            const code = api.GetLastError() as number;
            reject(
              code === WIN32_ERROR.FAILED_SERVICE_CONTROLLER_CONNECT || code === 0
                ? new ConnectorError(
                    'NOT_STARTED_BY_SCM',
                    'service-host is what the Windows service runs (the Service Control Manager starts it); in a console, use `so-connector run`',
                    { permanent: true },
                  )
                : win32Error(api, 'StartServiceCtrlDispatcherW', code),
            );
          },
        );
      }),
    registerHandler: (name, handler) => {
      const callback = api.koffi.register((control: number) => handler(control), api.koffi.pointer(api.handlerType));
      keep.push(callback);
      handle = api.RegisterServiceCtrlHandlerExW(name, callback, null);
      if (!handle) throw win32Error(api, 'RegisterServiceCtrlHandlerExW');
    },
    setStatus: (status) => {
      const ok = api.SetServiceStatus(handle, {
        dwServiceType: SERVICE_WIN32_OWN_PROCESS,
        dwCurrentState: status.state,
        dwControlsAccepted: status.controlsAccepted,
        dwWin32ExitCode: status.win32ExitCode,
        dwServiceSpecificExitCode: status.serviceSpecificExitCode,
        dwCheckPoint: status.checkPoint,
        dwWaitHint: status.waitHint,
      });
      if (!ok) throw win32Error(api, 'SetServiceStatus');
    },
  };
}

/** The installer side over advapi32; each call opens and closes its own handles. */
export function windowsServiceManager(): ServiceManager {
  const api = advapi();
  const withService = <T>(name: string, access: number, use: (service: unknown) => T): T => {
    const manager = api.OpenSCManagerW(null, null, SC_MANAGER_CONNECT);
    if (!manager) throw win32Error(api, 'OpenSCManagerW');
    try {
      const service = api.OpenServiceW(manager, name, access);
      if (!service) throw win32Error(api, `opening the service "${name}"`);
      try {
        return use(service);
      } finally {
        api.CloseServiceHandle(service);
      }
    } finally {
      api.CloseServiceHandle(manager);
    }
  };
  const change = (fn: KoffiFunction, service: unknown, level: number, info: object, what: string) => {
    if (!fn(service, level, info)) throw win32Error(api, `setting ${what}`);
  };
  /**
   * A setting ChangeServiceConfig2W keeps as a DWORD value of the service's registry key. Wine's
   * service manager reads these values but implements only some of the API's levels (others fail
   * with ERROR_INVALID_LEVEL): there the value is written directly, with reg.exe.
   */
  const dword = (
    fn: KoffiFunction,
    service: unknown,
    level: number,
    info: object,
    name: string,
    value: { name: string; data: number },
    what: string,
  ) => {
    if (fn(service, level, info)) return;
    const code = api.GetLastError() as number;
    if (code !== WIN32_ERROR.INVALID_LEVEL) throw win32Error(api, `setting ${what}`, code);
    const result = spawnSync(
      'reg.exe',
      ['add', `HKLM\\SYSTEM\\CurrentControlSet\\Services\\${name}`, '/v', value.name, '/t', 'REG_DWORD', '/d', String(value.data), '/f'],
      { encoding: 'utf8', windowsHide: true },
    );
    if (result.status !== 0)
      throw new ConnectorError(
        'WINDOWS_SERVICE_FAILED',
        `setting ${what} failed: ChangeServiceConfig2W does not implement it here and reg.exe said ${`${result.stdout}${result.stderr}`.trim()}`,
        { permanent: true },
      );
  };
  return {
    configure: (name, recovery) =>
      withService(name, SERVICE_CHANGE_CONFIG | SERVICE_QUERY_CONFIG, (service) => {
        const delayed = recovery.delayedAutoStart ? 1 : 0;
        dword(
          api.ChangeDelayedAutoStart,
          service,
          INFO.DELAYED_AUTO_START_INFO,
          { fDelayedAutostart: delayed },
          name,
          { name: 'DelayedAutostart', data: delayed },
          'delayed automatic start',
        );
        change(
          api.ChangeFailureActions,
          service,
          INFO.FAILURE_ACTIONS,
          {
            dwResetPeriod: recovery.resetPeriodSeconds,
            lpRebootMsg: null,
            lpCommand: null,
            cActions: recovery.restartDelaysMs.length,
            lpsaActions: recovery.restartDelaysMs.map((delay) => ({ Type: SC_ACTION_RESTART, Delay: delay })),
          },
          'the restart-on-failure actions',
        );
        const nonCrash = recovery.restartOnErrorExit ? 1 : 0;
        dword(
          api.ChangeFailureActionsFlag,
          service,
          INFO.FAILURE_ACTIONS_FLAG,
          { fFailureActionsOnNonCrashFailures: nonCrash },
          name,
          { name: 'FailureActionsOnNonCrashFailures', data: nonCrash },
          'restart after an error exit',
        );
        dword(
          api.ChangePreshutdown,
          service,
          INFO.PRESHUTDOWN_INFO,
          { dwPreshutdownTimeout: recovery.preshutdownTimeoutMs },
          name,
          { name: 'PreshutdownTimeout', data: recovery.preshutdownTimeoutMs },
          'the pre-shutdown timeout',
        );
      }),
    start: (name) =>
      withService(name, SERVICE_START, (service) => {
        if (api.StartServiceW(service, 0, null)) return;
        const code = api.GetLastError() as number;
        if (code !== WIN32_ERROR.SERVICE_ALREADY_RUNNING) throw win32Error(api, `starting the service "${name}"`, code);
      }),
    query: (name) => {
      try {
        return withService(name, SERVICE_QUERY_STATUS, (service) => {
          const status: Record<string, number> = {};
          if (!api.QueryServiceStatusEx(service, 0 /* SC_STATUS_PROCESS_INFO */, status, 36, [0]))
            throw win32Error(api, `querying the service "${name}"`);
          return {
            state: status.dwCurrentState ?? 0,
            win32ExitCode: status.dwWin32ExitCode ?? 0,
            serviceSpecificExitCode: status.dwServiceSpecificExitCode ?? 0,
            processId: status.dwProcessId ?? 0,
          };
        });
      } catch (error) {
        if ((error as { win32Code?: number }).win32Code === WIN32_ERROR.SERVICE_DOES_NOT_EXIST) return undefined;
        throw error;
      }
    },
    waitForProcessExit: (processId, timeoutMs) => {
      const handle = api.OpenProcess(SYNCHRONIZE, false, processId);
      if (!handle) return true; // gone already
      try {
        return api.WaitForSingleObject(handle, timeoutMs) === WAIT_OBJECT_0;
      } finally {
        api.CloseHandle(handle);
      }
    },
    processesOf: (image) => {
      const self = api.GetCurrentProcessId() as number;
      let pids = new Uint32Array(1024);
      for (;;) {
        const needed = [0];
        if (!api.EnumProcesses(pids, pids.byteLength, needed)) throw win32Error(api, 'K32EnumProcesses');
        if (needed[0]! < pids.byteLength) {
          pids = pids.subarray(0, needed[0]! / 4);
          break;
        }
        pids = new Uint32Array(pids.length * 2);
      }
      const want = image.toLowerCase();
      return [...pids].filter((pid) => {
        if (pid === 0 || pid === self) return false;
        const handle = api.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, false, pid);
        if (!handle) return false; // ended meanwhile, or not ours to look at (a system process)
        try {
          const name = new Uint16Array(32_768);
          const size = [name.length];
          if (!api.QueryFullProcessImageNameW(handle, 0, name, size)) return false;
          return (
            Buffer.from(name.buffer, 0, size[0]! * 2)
              .toString('utf16le')
              .toLowerCase() === want
          );
        } finally {
          api.CloseHandle(handle);
        }
      });
    },
  };
}
