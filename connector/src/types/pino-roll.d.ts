// pino-roll ships no types; this is the part of its API the Windows service uses (pino-roll.js).
declare module 'pino-roll' {
  import type SonicBoom from 'sonic-boom';
  export default function pinoRoll(options: {
    file: string;
    extension?: string;
    /** e.g. '10m' */
    size?: string | number;
    frequency?: 'daily' | 'hourly' | number;
    limit?: { count: number; removeOtherLogFiles?: boolean };
    mkdir?: boolean;
  }): Promise<SonicBoom>;
}
