import {
  SERVICE_CONTROL,
  SERVICE_STATE,
  type ServiceDispatcher,
  type ServiceStatus,
  WIN32_ERROR,
} from '../../../connector/src/windows/service-control-manager';
import { hostService } from '../../../connector/src/windows/service-host';

/** The Service Control Manager's side, recorded: starts the service, sends controls, ends the dispatcher on STOPPED. */
class RecordingScm implements ServiceDispatcher {
  readonly statuses: ServiceStatus[] = [];
  handler?: (control: number) => number;
  private finish?: () => void;

  run(name: string, main: () => void): Promise<void> {
    expect(name).toBe('so-connector');
    return new Promise((resolve) => {
      this.finish = resolve;
      main();
    });
  }

  registerHandler(name: string, handler: (control: number) => number): void {
    expect(name).toBe('so-connector');
    this.handler = handler;
  }

  setStatus(status: ServiceStatus): void {
    this.statuses.push(status);
    if (status.state === SERVICE_STATE.STOPPED) setImmediate(() => this.finish?.());
  }

  get states(): number[] {
    return this.statuses.map((s) => s.state);
  }
}

/** Waits for `condition` on the timers' own progress (up to 2,000 turns), never on a wall-clock guess. */
const until = async (condition: () => boolean) => {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
};

describe('the exe as its own Windows service', () => {
  test('GIVEN a start WHEN the SCM sends STOP THEN START_PENDING → RUNNING (accepting stop and shutdown) → STOP_PENDING with fresh checkpoints while the job checkpoints → STOPPED, exit 0', async () => {
    const scm = new RecordingScm();
    let release!: () => void;
    const stops: string[] = [];
    const order: string[] = [];
    const host = hostService({
      name: 'so-connector',
      dispatcher: scm,
      log: () => undefined,
      checkpointMs: 10,
      waitHintMs: 30_000,
      flush: () => void order.push(`flush (${scm.states.at(-1)})`),
      exit: (code) => void order.push(`exit ${code} (${scm.states.at(-1)})`),
      start: async () => ({
        stop: (reason) =>
          new Promise<void>((resolve) => {
            stops.push(reason);
            release = resolve;
          }),
      }),
    });
    await until(() => scm.states.includes(SERVICE_STATE.RUNNING));
    expect(scm.statuses[0]).toMatchObject({ state: SERVICE_STATE.START_PENDING, checkPoint: 1, waitHint: 30_000, controlsAccepted: 0 });
    expect(scm.statuses.at(-1)).toMatchObject({
      state: SERVICE_STATE.RUNNING,
      controlsAccepted: 0x1 | 0x4 | 0x100,
      checkPoint: 0,
      waitHint: 0,
    });

    expect(scm.handler!(SERVICE_CONTROL.INTERROGATE)).toBe(WIN32_ERROR.NO_ERROR);
    expect(scm.handler!(0x2 /* PAUSE */)).toBe(WIN32_ERROR.CALL_NOT_IMPLEMENTED);
    expect(scm.handler!(SERVICE_CONTROL.STOP)).toBe(WIN32_ERROR.NO_ERROR);
    expect(scm.handler!(SERVICE_CONTROL.STOP)).toBe(WIN32_ERROR.NO_ERROR); // a second stop while stopping changes nothing
    const stopPending = () => scm.statuses.filter((s) => s.state === SERVICE_STATE.STOP_PENDING);
    await until(() => stopPending().length >= 3); // a checkpoint every 10 ms, however late the timers fire
    const pending = stopPending();
    expect(pending.map((s) => s.checkPoint)).toEqual([...pending.map((s) => s.checkPoint)].sort((a, b) => a - b));
    expect(new Set(pending.map((s) => s.checkPoint)).size).toBe(pending.length);
    expect(scm.states).not.toContain(SERVICE_STATE.STOPPED);

    release();
    expect(await host).toBe(0);
    expect(stops).toEqual(['stop']);
    expect(scm.statuses.at(-1)).toMatchObject({ state: SERVICE_STATE.STOPPED, win32ExitCode: 0, serviceSpecificExitCode: 0 });
    // Logs out before STOPPED; the process ends right after it, so an installer can replace the exe.
    expect(order).toEqual([`flush (${SERVICE_STATE.STOP_PENDING})`, `exit 0 (${SERVICE_STATE.STOPPED})`]);
  });

  test('GIVEN system shutdown THEN the connector stops the same way, for the pre-shutdown notice too', async () => {
    for (const control of [SERVICE_CONTROL.PRESHUTDOWN, SERVICE_CONTROL.SHUTDOWN]) {
      const scm = new RecordingScm();
      const reasons: string[] = [];
      const host = hostService({
        name: 'so-connector',
        dispatcher: scm,
        log: () => undefined,
        start: async () => ({ stop: async (reason) => void reasons.push(reason) }),
      });
      await until(() => scm.states.includes(SERVICE_STATE.RUNNING));
      scm.handler!(control);
      expect(await host).toBe(0);
      expect(reasons).toEqual(['system shutdown']);
    }
  });

  test('GIVEN a start that fails (an invalid configuration) THEN STOPPED with a service-specific exit code, which the recovery settings restart', async () => {
    const scm = new RecordingScm();
    const logged: string[] = [];
    const code = await hostService({
      name: 'so-connector',
      dispatcher: scm,
      log: (message, fields) => void logged.push(`${message} ${JSON.stringify(fields ?? {})}`),
      start: async () => {
        throw Object.assign(new Error('the configuration file C:\\ProgramData\\so-backup\\config.json is invalid'), { exitCode: 2 });
      },
    });
    expect(code).toBe(2);
    expect(scm.states).toEqual([SERVICE_STATE.START_PENDING, SERVICE_STATE.STOPPED]);
    expect(scm.statuses.at(-1)).toMatchObject({ win32ExitCode: WIN32_ERROR.SERVICE_SPECIFIC_ERROR, serviceSpecificExitCode: 2 });
    expect(logged.join('\n')).toContain('config.json is invalid');
  });

  test('GIVEN a stop that fails THEN STOPPED with exit code 1, and the process exits 1', async () => {
    const scm = new RecordingScm();
    const host = hostService({
      name: 'so-connector',
      dispatcher: scm,
      log: () => undefined,
      start: async () => ({
        stop: async () => {
          throw new Error('disk gone');
        },
      }),
    });
    await until(() => scm.states.includes(SERVICE_STATE.RUNNING));
    scm.handler!(SERVICE_CONTROL.STOP);
    expect(await host).toBe(1);
    expect(scm.statuses.at(-1)).toMatchObject({
      state: SERVICE_STATE.STOPPED,
      win32ExitCode: WIN32_ERROR.SERVICE_SPECIFIC_ERROR,
      serviceSpecificExitCode: 1,
    });
  });
});
