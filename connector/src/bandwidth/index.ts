// The connector's bandwidth limit: rate settings and their schedules (from protocol/), one byte
// bucket per direction shared by every S3 stream of the process, and the throttled streams the
// store sends and receives through. Imports nothing of backup/, restore/ or the AWS SDK.
export * from './byte-bucket';
export * from './bandwidth-limiter';
export * from './throttled-streams';
export * from './tenant-settings-file';
