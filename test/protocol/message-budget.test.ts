import { readLocalDeployment } from '../../local/cloud/local-deployment';
import { synthesizeTemplate } from '../../local/cloud/synthesize-template';
import { fleetLoad, MESSAGE_BUDGET } from '../../protocol';

/** The connectors' message budget, sized against the stage's throttle as the template ships it. */
describe("the message budget keeps a fleet of 10,000 inside the stage's throttle", () => {
  const deployment = readLocalDeployment(synthesizeTemplate());
  const throttle = deployment.webSocket.throttle!;
  const windowHours = Number(deployment.functions.find((f) => f.handler === 'list-tenants')!.environment.BACKUP_WINDOW_HOURS);

  test('GIVEN the synthesized stage (50/s) and backup window (4 h) WHEN 10,000 connectors keep the budget THEN idle they use about 40 % of the throttle, and under 50 % while the window runs', () => {
    expect(throttle).toEqual({ rateLimit: 50, burstLimit: 100 });
    expect(windowHours).toBe(4);
    const load = fleetLoad(10_000, { backupWindowHours: windowHours });
    expect(load.idlePerSecond / throttle.rateLimit).toBeCloseTo(0.4, 1);
    expect(load.backupWindowPerSecond / throttle.rateLimit).toBeLessThan(0.5);
  });

  test("the heartbeat leaves a minute of API Gateway's 10-minute idle limit for a throttled one to go again, and progress comes well within the run's 10-minute heartbeat timeout", () => {
    expect(600 - MESSAGE_BUDGET.heartbeatSeconds).toBeGreaterThanOrEqual(60);
    expect(
      MESSAGE_BUDGET.progressIntervalSeconds + MESSAGE_BUDGET.firstProgressJitterSeconds + MESSAGE_BUDGET.throttleBackoffCapMs / 1000,
    ).toBeLessThan(600);
    expect(MESSAGE_BUDGET.reconnectAfterMinutes).toBeLessThan(120);
  });
});
