import { Token, type Duration } from 'aws-cdk-lib';

/** Range checks in CDK's message shape; tokens (unknown until deploy) are skipped. */
export function validateRange(label: string, value: number | undefined, min: number, max: number, unit = ''): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${label} must be a whole number from ${min} to ${max}${unit}, but ${value} was provided`);
  }
}

export function validateDuration(label: string, value: Duration | undefined, minSeconds: number, maxSeconds: number): void {
  if (value === undefined || value.isUnresolved()) return;
  const seconds = value.toSeconds();
  if (seconds < minSeconds || seconds > maxSeconds) {
    throw new Error(`${label} must be ${minSeconds} seconds or more and at most ${maxSeconds} seconds, but ${seconds} was provided`);
  }
}
