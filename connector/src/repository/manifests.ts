import { keyLayout, type Manifest, parseManifest } from '../../../protocol';
import { type ObjectStore, readObject, type StoredObject } from '../store/object-store';

/** A run's manifest at its exact version (protocol's one decoder: throws the JSON or schema error). */
export async function readManifest(store: Pick<ObjectStore, 'getVersion'>, pointer: { key: string; versionId: string }): Promise<Manifest> {
  return parseManifest(await readObject(store, pointer.key, pointer.versionId));
}

/** Writes the run's manifest, last, at the run's staged key (keyLayout.stagedManifest) as indented JSON; returns the version S3 stored. */
export async function writeManifest(store: Pick<ObjectStore, 'putBuffer'>, manifest: Manifest): Promise<StoredObject> {
  return store.putBuffer(
    keyLayout.stagedManifest(manifest.tenantId, manifest.runId),
    Buffer.from(JSON.stringify(manifest, null, 2)),
    'application/json',
  );
}
