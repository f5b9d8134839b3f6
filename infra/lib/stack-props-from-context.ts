import { Duration } from 'aws-cdk-lib';
import type { Node } from 'constructs';
import type { SoBackupStackProps } from './so-backup-stack';
import { PRESENCE_MODES, type PresenceMode } from '../../core/presence';

/** Reads optional stack properties from CDK context (`-c dailyBackupsKept=30`). */
export function stackPropsFromContext(node: Node): SoBackupStackProps {
  const number = (key: string): number | undefined => {
    const value = node.tryGetContext(key);
    if (value === undefined) return undefined;
    // A decimal number as written ("60", "1.5", "-1"): Number() alone also takes "0x3c", "1e2" and "" (T18 #8).
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    if (typeof value !== 'string' || !/^-?\d+(\.\d+)?$/.test(value.trim()))
      throw new Error(`context "${key}" must be a number, but "${String(value)}" was provided`);
    return Number(value);
  };
  const string = (key: string): string | undefined => node.tryGetContext(key);
  const days = number('archiveVersionRetentionDays');
  const runWindowHours = number('runWindowHours');
  const stagingDays = number('stagingDays');
  const lockMode = string('objectLockMode');
  const lockDays = number('objectLockDays');
  if (lockMode !== undefined && lockMode !== 'GOVERNANCE' && lockMode !== 'COMPLIANCE')
    throw new Error(`context "objectLockMode" must be GOVERNANCE or COMPLIANCE, but "${lockMode}" was provided`);
  if ((lockMode === undefined) !== (lockDays === undefined)) throw new Error('give both "objectLockMode" and "objectLockDays", or neither');
  const presence = string('connectorPresence');
  if (presence !== undefined && !(PRESENCE_MODES as readonly string[]).includes(presence))
    throw new Error(`context "connectorPresence" must be ${PRESENCE_MODES.join(' or ')}, but "${presence}" was provided`);
  return {
    dailyBackupsKept: number('dailyBackupsKept'),
    weeklyBackupsKept: number('weeklyBackupsKept'),
    monthlyBackupsKept: number('monthlyBackupsKept'),
    archiveVersionRetention: days === undefined ? undefined : Duration.days(days),
    stagingExpiration: stagingDays === undefined ? undefined : Duration.days(stagingDays),
    backupHour: number('backupHour'),
    backupWindowHours: number('backupWindowHours'),
    // Hours a run's archive may go on (0: no window); fractions allowed (0.5: 30 minutes).
    runWindow: runWindowHours === undefined ? undefined : Duration.seconds(Math.round(runWindowHours * 3600)),
    scheduleTimeZone: string('scheduleTimeZone'),
    alertEmail: string('alertEmail'),
    staleAfterHours: number('staleAfterHours'),
    offlineAfterHours: number('offlineAfterHours'),
    seedingStalledAfterHours: number('seedingStalledAfterHours'),
    drillIntervalDays: number('drillIntervalDays'),
    drillSampleFiles: number('drillSampleFiles'),
    drillDatabase: string('drillDatabase') === undefined ? undefined : string('drillDatabase') !== 'false',
    breakGlassRoleArn: string('breakGlassRoleArn'),
    objectLock: lockMode && lockDays !== undefined ? { mode: lockMode, days: lockDays } : undefined,
    connectorPresence: presence as PresenceMode | undefined,
    // Minutes between a resting connector's check-ins (1–360, shorter than offlineAfterHours: the stack checks).
    checkInMinutes: number('checkInMinutes'),
  };
}
