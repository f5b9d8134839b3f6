import { gzipSync } from 'node:zlib';
import { ZodError } from 'zod';
import { decodeManifest, decodeSnapshot, parseManifest, parseSnapshot } from '../../protocol';

const manifest = {
  kind: 'so-backup-manifest',
  v: 1,
  runId: 'acme-2026-11-25-daily',
  tenantId: 'acme',
  connectorVersion: '1.0.0',
  startedAt: '2026-11-25T01:00:00.000Z',
  finishedAt: '2026-11-25T01:10:00.000Z',
  databases: [],
};
const snapshot = { kind: 'so-backup-archive-snapshot', v: 1, runId: 'acme-2026-11-25-daily', files: [] };

describe('stored documents: the one decoder of manifests and snapshots', () => {
  it('decodes a manifest from bytes or text, and says at which stage a bad one fails', () => {
    expect(decodeManifest(Buffer.from(JSON.stringify(manifest)))).toEqual({ success: true, data: manifest });
    expect(parseManifest(JSON.stringify(manifest))).toEqual(manifest);
    const notJson = decodeManifest('{"kind":');
    expect(notJson).toMatchObject({ success: false, stage: 'json' });
    expect(() => parseManifest('{"kind":')).toThrow(SyntaxError);
    const wrong = decodeManifest(JSON.stringify({ ...manifest, v: 2 }));
    expect(wrong).toMatchObject({ success: false, stage: 'schema' });
    expect(() => parseManifest(JSON.stringify({ ...manifest, v: 2 }))).toThrow(ZodError);
  });

  it('decodes a snapshot stored as several concatenated gzip members, filling the defaults of older snapshots', () => {
    const text = JSON.stringify(snapshot);
    const members = Buffer.concat([gzipSync(text.slice(0, 20)), gzipSync(text.slice(20))]);
    expect(parseSnapshot(members)).toEqual({ ...snapshot, emptyFolders: [], folders: [], links: [] });
  });

  it('names the stage a bad snapshot fails at: not gzip, not JSON, or off the schema', () => {
    expect(decodeSnapshot(Buffer.from(JSON.stringify(snapshot)))).toMatchObject({ success: false, stage: 'gzip' });
    expect(decodeSnapshot(gzipSync('{"files":'))).toMatchObject({ success: false, stage: 'json' });
    expect(decodeSnapshot(gzipSync(JSON.stringify({ ...snapshot, files: 'none' })))).toMatchObject({ success: false, stage: 'schema' });
    expect(() => parseSnapshot(Buffer.from('plain'))).toThrow();
  });
});
