// The repository: what a run stores, typed — manifests and snapshots read and written through the
// protocol's one decoder, object versions downloaded and checked range by range, and local files
// checksummed the way S3 checksums their objects. Backup and restore both depend on it, never on each
// other; it depends only on store/ (bytes by key) and protocol/.
export * from './download-artifact';
export * from './file-checksums';
export * from './manifests';
export * from './snapshots';
