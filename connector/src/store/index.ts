// Object storage by key and stream: put (single or multipart, with SHA-256 checksums), head,
// delete marker. Knows nothing of backups; connector/src/backup owns the key layout.
export * from './object-store';
export * from './s3-object-store';
