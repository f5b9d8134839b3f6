/**
 * The exe as its own Windows service: the Service Control Manager protocol's states around the
 * connector's start and clean stop. On STOP, SHUTDOWN or PRESHUTDOWN the connector stops the way
 * it does on SIGTERM (a running job checkpoints and resumes at the next start) while the host
 * reports STOP_PENDING with a fresh checkpoint every few seconds, so the SCM waits instead of
 * killing the process; then SERVICE_STOPPED. A start that fails reports SERVICE_STOPPED with a
 * service-specific exit code, which the recovery settings (service-setup.ts) turn into a restart.
 */
import {
  SERVICE_ACCEPT,
  SERVICE_CONTROL,
  SERVICE_STATE,
  type ServiceDispatcher,
  type ServiceStatus,
  WIN32_ERROR,
} from './service-control-manager';

/** A started connector, as the host sees it. */
export interface HostedService {
  /** Stops cleanly; resolves when nothing is left running. */
  stop(reason: string): Promise<void>;
}

export interface ServiceHostOptions {
  readonly name: string;
  readonly dispatcher: ServiceDispatcher;
  /** Starts the connector; rejects with an error whose exit code the SCM should show. */
  start(): Promise<HostedService>;
  readonly log: (message: string, fields?: Record<string, unknown>) => void;
  /** Re-report STOP_PENDING this often while stopping. @default 5000 */
  readonly checkpointMs?: number;
  /** Wait hint of each pending report: the SCM gives up after this long without a new checkpoint. @default 30000 */
  readonly waitHintMs?: number;
  /**
   * Called right after SERVICE_STOPPED is reported, with the exit code: the process should end at
   * once, because an installer that stopped the service replaces or removes the exe next, and a
   * running exe cannot be replaced. Logs must be flushed before (see `flush`).
   */
  readonly exit?: (code: number) => void;
  /** Writes buffered logs out; called before SERVICE_STOPPED is reported. */
  readonly flush?: () => void;
}

const ACCEPTED = SERVICE_ACCEPT.STOP | SERVICE_ACCEPT.SHUTDOWN | SERVICE_ACCEPT.PRESHUTDOWN;
const STOP_CONTROLS: Record<number, string> = {
  [SERVICE_CONTROL.STOP]: 'stop',
  [SERVICE_CONTROL.SHUTDOWN]: 'system shutdown',
  [SERVICE_CONTROL.PRESHUTDOWN]: 'system shutdown',
};

/**
 * Runs the service until the SCM has been told it stopped. Resolves with the process exit code:
 * 0 after a clean stop, the start error's exit code (≥ 1) after a failed start.
 */
export async function hostService(options: ServiceHostOptions): Promise<number> {
  const checkpointMs = options.checkpointMs ?? 5000;
  const waitHint = options.waitHintMs ?? 30_000;
  let exitCode = 0;
  let service: HostedService | undefined;
  let stopping: Promise<void> | undefined;
  let checkPoint = 0;
  const report = (state: number, extra: Partial<ServiceStatus> = {}) =>
    options.dispatcher.setStatus({
      state,
      controlsAccepted: state === SERVICE_STATE.RUNNING ? ACCEPTED : 0,
      win32ExitCode: WIN32_ERROR.NO_ERROR,
      serviceSpecificExitCode: 0,
      checkPoint: state === SERVICE_STATE.START_PENDING || state === SERVICE_STATE.STOP_PENDING ? ++checkPoint : 0,
      waitHint: state === SERVICE_STATE.START_PENDING || state === SERVICE_STATE.STOP_PENDING ? waitHint : 0,
      ...extra,
    });

  const stopped = () => {
    options.flush?.();
    report(SERVICE_STATE.STOPPED, exitCode ? { win32ExitCode: WIN32_ERROR.SERVICE_SPECIFIC_ERROR, serviceSpecificExitCode: exitCode } : {});
    options.exit?.(exitCode);
  };

  const stop = (reason: string) => {
    stopping ??= (async () => {
      options.log('stopping', { reason });
      report(SERVICE_STATE.STOP_PENDING);
      const ticker = setInterval(() => report(SERVICE_STATE.STOP_PENDING), checkpointMs);
      try {
        await service?.stop(reason);
      } catch (error) {
        exitCode = 1;
        options.log('the connector did not stop cleanly', { error: (error as Error).message });
      } finally {
        clearInterval(ticker);
      }
      options.log('stopped');
      stopped();
    })();
  };

  const handler = (control: number): number => {
    const reason = STOP_CONTROLS[control];
    if (reason) {
      stop(reason);
      return WIN32_ERROR.NO_ERROR;
    }
    return control === SERVICE_CONTROL.INTERROGATE ? WIN32_ERROR.NO_ERROR : WIN32_ERROR.CALL_NOT_IMPLEMENTED;
  };

  const main = () => {
    options.dispatcher.registerHandler(options.name, handler);
    report(SERVICE_STATE.START_PENDING);
    options.start().then(
      (started) => {
        service = started;
        if (stopping) return void started.stop('stopped while starting');
        report(SERVICE_STATE.RUNNING);
        options.log('running', { service: options.name });
      },
      (error: unknown) => {
        exitCode = Math.max(1, Number((error as { exitCode?: number }).exitCode ?? 1));
        options.log('the connector could not start', { error: (error as Error).message, exitCode });
        stopped();
      },
    );
  };

  await options.dispatcher.run(options.name, main);
  return exitCode;
}
