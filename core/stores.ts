import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ArtifactFailure, BandwidthSetting, ConnectionPurpose, ManifestPointer, WireError } from '../protocol';
import { awsErrorKind } from './aws-errors';
import type { ArchiveProgress, SeedingState } from './seeding';
import type { RunTrigger } from './workflow';

/** Index names; the same strings as infra/lib/constructs/backup-tables.ts TABLE_INDEXES. */
const BY_TENANT = 'byTenant';

/** Runs a conditional write: true when it applied, false when its condition did not hold. */
async function conditionally(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (awsErrorKind(error) === 'condition-failed') return false;
    throw error;
  }
}

/** A connector's public key. "pending" keys come from rotation and become "active" on first use. */
export interface ConnectorKey {
  keyId: string;
  /** Ed25519 public key, base64url SPKI DER. */
  publicKey: string;
  status: 'active' | 'pending';
  createdAt: string;
}

export interface TenantRecord {
  tenantId: string;
  displayName: string;
  enabled: boolean;
  /** The connector's public keys; the cloud never holds a private key. */
  keys: ConnectorKey[];
  /** Bumped on every change of `keys`, for optimistic locking. */
  keysVersion?: number;
  /** The outstanding one-time activation code, stored hashed. */
  activation?: { codeHash: string; expiresAt: string; usedAt?: string };
  createdAt: string;
  lastSuccessAt?: string;
  lastRunId?: string;
  /** A SuperOffice Online customer: backups are also taken on support's request (trigger "support"). */
  online?: boolean;
  /** The hour (0–23, in the schedule's time zone) its daily backup starts; spread over the stack's backup window when unset. */
  backupHour?: number;
  /** With `backupHour`: the minute (0, 15, 30 or 45) it starts; 0 when unset. */
  backupMinute?: number;
  /** The connector's bandwidth limit set centrally (`so-backup tenants set --bandwidth`), sent to the connector; unset: the connector's configuration file alone. */
  bandwidth?: BandwidthSetting;
  /**
   * How long after a run starts its archive may go on (seconds; 0: no window), set with
   * `so-backup tenants set --backup-window`; unset: the stack's (core/backup-window.ts).
   */
  backupWindowSeconds?: number;
  /** An archive being sent over several nights (core/seeding.ts); absent once an archive run is complete. */
  seeding?: SeedingState;
  /**
   * The latest restore drill's outcome (`detail` says what was checked, or what failed);
   * `database` is the database it was asked to restore (drills rotate through them).
   */
  lastDrill?: { drillId: string; runId: string; ok: boolean; at: string; detail: string; database?: string };
  /** When a drill was asked for that has not reported yet. */
  drillRequestedAt?: string;
  /**
   * The drills the cloud asked for and that have not reported, by drill id: a drill result is
   * accepted only for one of these, for its run, once, before it expires.
   */
  issuedDrills?: Record<string, IssuedDrill>;
  /** The period (ISO week, month) each copy tier last received a copy for. */
  tierMarks?: Partial<Record<'weekly' | 'monthly', string>>;
  /** The newest daily manifest finalize wrote (the next run carries its failed parts forward from it). */
  dailyManifest?: ManifestPointer;
  /** When the tenant's last connector connection ended (for the connectors-offline alarm). */
  lastDisconnectedAt?: string;
  /**
   * When its connector stays connected (`so-backup tenants set --presence`): always, or check-in
   * (core/presence.ts); unset: the stack's default (`-c connectorPresence`).
   */
  presence?: 'always' | 'check-in';
}

/** A restore drill the cloud asked a connector for (request-drills). */
export interface IssuedDrill {
  runId: string;
  /**
   * What the drill was asked to check, to hold its result against: whether to restore a
   * database and which one (`databaseName`, absent when the run's names are unknown: the
   * manifest's first), and how many archive files to sample (0 when none were asked or the run
   * kept no archive). Absent in drills issued before this was recorded.
   */
  asked?: { database: boolean; databaseName?: string; sampleFiles: number };
  issuedAt: string;
  /** After this its result is refused (ISO 8601, compared as text). */
  expiresAt: string;
}

export class TenantStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(tenantId: string): Promise<TenantRecord | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: { tenantId }, ConsistentRead: true }));
    const item = out.Item as TenantRecord | undefined;
    return item && { ...item, keys: item.keys ?? [] };
  }

  async put(tenant: TenantRecord): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: tenant }));
  }

  /** Creates a tenant; false when one with that id exists already. */
  async create(tenant: TenantRecord): Promise<boolean> {
    return conditionally(
      this.db.send(new PutCommand({ TableName: this.table, Item: tenant, ConditionExpression: 'attribute_not_exists(tenantId)' })),
    );
  }

  async remove(tenantId: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: { tenantId } }));
  }

  async listEnabled(): Promise<TenantRecord[]> {
    return this.list(true);
  }

  /** Every tenant (enabled only, when asked), sorted by id. */
  async list(enabledOnly = false): Promise<TenantRecord[]> {
    const tenants: TenantRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listPage(cursor, 100, enabledOnly);
      tenants.push(...page.tenants);
      cursor = page.next;
    } while (cursor);
    return tenants.map((t) => ({ ...t, keys: t.keys ?? [] })).sort((a, b) => a.tenantId.localeCompare(b.tenantId));
  }

  /** One page of tenants (at most `limit` read; enabled ones only by default) and the cursor of the next, if any. */
  async listPage(cursor?: string, limit = 100, enabledOnly = true): Promise<{ tenants: TenantRecord[]; next?: string }> {
    const page = await this.db.send(
      new ScanCommand({
        TableName: this.table,
        Limit: limit,
        ExclusiveStartKey: cursor === undefined ? undefined : { tenantId: cursor },
        ...(enabledOnly ? { FilterExpression: 'enabled = :yes', ExpressionAttributeValues: { ':yes': true } } : {}),
      }),
    );
    const next = page.LastEvaluatedKey?.tenantId;
    return { tenants: (page.Items ?? []) as TenantRecord[], ...(typeof next === 'string' ? { next } : {}) };
  }

  /**
   * Replaces the tenant's keys, provided nobody changed them since `tenant` was read (optimistic
   * locking on keysVersion), so two concurrent enrolments or rotations cannot both win.
   */
  async updateKeys(tenant: Pick<TenantRecord, 'tenantId' | 'keysVersion'>, keys: ConnectorKey[]): Promise<boolean> {
    const version = tenant.keysVersion ?? 0;
    return conditionally(
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { tenantId: tenant.tenantId },
          ConditionExpression:
            version === 0 ? 'attribute_exists(tenantId) AND attribute_not_exists(keysVersion)' : 'keysVersion = :version',
          UpdateExpression: 'SET #keys = :keys, keysVersion = :next',
          ExpressionAttributeNames: { '#keys': 'keys' },
          ExpressionAttributeValues: { ':keys': keys, ':next': version + 1, ...(version === 0 ? {} : { ':version': version }) },
        }),
      ),
    );
  }

  async setActivation(tenantId: string, activation: NonNullable<TenantRecord['activation']>): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId },
        ConditionExpression: 'attribute_exists(tenantId)',
        UpdateExpression: 'SET activation = :a',
        ExpressionAttributeValues: { ':a': activation },
      }),
    );
  }

  /** Marks the activation code used, once: false when it was already used (or replaced). */
  async useActivation(tenantId: string, codeHash: string, usedAt: string, key: ConnectorKey): Promise<boolean> {
    return conditionally(
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { tenantId },
          ConditionExpression: 'activation.codeHash = :hash AND attribute_not_exists(activation.usedAt)',
          UpdateExpression: 'SET activation.usedAt = :at, #keys = :keys ADD keysVersion :one',
          ExpressionAttributeNames: { '#keys': 'keys' },
          ExpressionAttributeValues: { ':hash': codeHash, ':at': usedAt, ':keys': [key], ':one': 1 },
        }),
      ),
    );
  }

  /** Changes a tenant's settings (name, Online, backup hour and minute, bandwidth, backup window, presence; `null` removes them: the stack's backup window, run window and presence, the configuration file's bandwidth alone). */
  async updateSettings(
    tenantId: string,
    settings: {
      displayName?: string;
      online?: boolean;
      backupHour?: number | null;
      backupMinute?: number | null;
      bandwidth?: BandwidthSetting | null;
      backupWindowSeconds?: number | null;
      presence?: 'always' | 'check-in' | null;
    },
  ): Promise<void> {
    const set = Object.entries(settings).filter(([, value]) => value !== undefined && value !== null);
    const remove = (['backupHour', 'backupMinute', 'bandwidth', 'backupWindowSeconds', 'presence'] as const).filter(
      (name) => settings[name] === null,
    );
    if (set.length === 0 && remove.length === 0) return;
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId },
        ConditionExpression: 'attribute_exists(tenantId)',
        UpdateExpression: [
          set.length ? `SET ${set.map(([name]) => `#${name} = :${name}`).join(', ')}` : '',
          remove.length ? `REMOVE ${remove.map((name) => `#${name}`).join(', ')}` : '',
        ]
          .join(' ')
          .trim(),
        ExpressionAttributeNames: Object.fromEntries([...set.map(([name]) => name), ...remove].map((name) => [`#${name}`, name])),
        ...(set.length ? { ExpressionAttributeValues: Object.fromEntries(set.map(([name, value]) => [`:${name}`, value])) } : {}),
      }),
    );
  }

  async setEnabled(tenantId: string, enabled: boolean): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId },
        ConditionExpression: 'attribute_exists(tenantId)',
        UpdateExpression: 'SET enabled = :e',
        ExpressionAttributeValues: { ':e': enabled },
      }),
    );
  }

  /** Notes when a connection ended; a tenant removed meanwhile is left alone. */
  async recordDisconnected(tenantId: string, at: string): Promise<void> {
    await conditionally(
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { tenantId },
          UpdateExpression: 'SET lastDisconnectedAt = :at',
          ConditionExpression: 'attribute_exists(tenantId)',
          ExpressionAttributeValues: { ':at': at },
        }),
      ),
    );
  }

  /**
   * Records a drill the cloud is about to ask for, before it is sent (only an issued drill may
   * report a result); issued drills past their expiry are dropped in the same write.
   */
  async issueDrill(tenantId: string, drillId: string, drill: IssuedDrill, expired: readonly string[] = []): Promise<void> {
    // The map must exist before one of its entries can be set; a separate write, since one
    // update may not both create a map and set a path inside it.
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId },
        ConditionExpression: 'attribute_exists(tenantId)',
        UpdateExpression: 'SET issuedDrills = if_not_exists(issuedDrills, :empty)',
        ExpressionAttributeValues: { ':empty': {} },
      }),
    );
    const drop = expired.filter((id) => id !== drillId);
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId },
        ConditionExpression: 'attribute_exists(tenantId)',
        UpdateExpression: `SET issuedDrills.#drill = :drill${drop.length ? ` REMOVE ${drop.map((_, i) => `issuedDrills.#old${i}`).join(', ')}` : ''}`,
        ExpressionAttributeNames: { '#drill': drillId, ...Object.fromEntries(drop.map((id, i) => [`#old${i}`, id])) },
        ExpressionAttributeValues: { ':drill': drill },
      }),
    );
  }

  /** Notes that a drill request reached the connector; the first unanswered one stays (it measures how long the tenant has not answered). */
  async recordDrillRequested(tenantId: string, at: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId },
        ConditionExpression: 'attribute_exists(tenantId)',
        UpdateExpression: 'SET drillRequestedAt = if_not_exists(drillRequestedAt, :at)',
        ExpressionAttributeValues: { ':at': at },
      }),
    );
  }

  /**
   * Records a drill's outcome, only for a drill the cloud issued to this tenant for that run and
   * not yet answered or expired; the issued drill is used up in the same write. False when no
   * such drill is outstanding (unsolicited, replayed, another run, or too late).
   */
  async recordDrill(tenantId: string, drill: NonNullable<TenantRecord['lastDrill']>, now: string): Promise<boolean> {
    return conditionally(
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { tenantId },
          ConditionExpression: 'issuedDrills.#drill.runId = :run AND issuedDrills.#drill.expiresAt > :now',
          UpdateExpression: 'SET lastDrill = :result REMOVE drillRequestedAt, issuedDrills.#drill',
          ExpressionAttributeNames: { '#drill': drill.drillId },
          ExpressionAttributeValues: { ':result': drill, ':run': drill.runId, ':now': now },
        }),
      ),
    );
  }

  /** After a run's parts are promoted (complete or not): its daily manifest, and the periods the copy tiers now have. */
  async recordPromotion(tenantId: string, dailyManifest: ManifestPointer, tierMarks: TenantRecord['tierMarks'] = {}): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId },
        UpdateExpression: 'SET dailyManifest = :manifest, tierMarks = :marks',
        ConditionExpression: 'attribute_exists(tenantId)',
        ExpressionAttributeValues: { ':manifest': dailyManifest, ':marks': tierMarks },
      }),
    );
  }

  /** Sets the tenant's seeding state after a run whose archive validated; undefined removes it (the archive is complete). */
  async recordSeeding(tenantId: string, seeding: SeedingState | undefined): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId },
        ConditionExpression: 'attribute_exists(tenantId)',
        UpdateExpression: seeding ? 'SET seeding = :seeding' : 'REMOVE seeding',
        ...(seeding ? { ExpressionAttributeValues: { ':seeding': seeding } } : {}),
      }),
    );
  }

  async recordSuccess(tenantId: string, runId: string, at: string, tierMarks: TenantRecord['tierMarks'] = {}): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId },
        UpdateExpression: 'SET lastSuccessAt = :at, lastRunId = :run, tierMarks = :marks',
        ConditionExpression: 'attribute_exists(tenantId)',
        ExpressionAttributeValues: { ':at': at, ':run': runId, ':marks': tierMarks },
      }),
    );
  }
}

export interface ConnectionRecord {
  connectionId: string;
  tenantId: string;
  /** The key the connector authenticated with. */
  keyId?: string;
  connectedAt: string;
  connectorVersion?: string;
  /** Not the service's own connection (protocol/connector-auth.ts): it takes no jobs or drills and does not count as online. */
  purpose?: ConnectionPurpose;
  /** Epoch seconds; DynamoDB TTL removes records of connections that vanished without $disconnect. */
  expiresAt: number;
}

/** API Gateway closes every WebSocket after 2 hours; a record outliving that is stale. */
const CONNECTION_MAX_SECONDS = 2 * 60 * 60;

export class ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async add(connection: Omit<ConnectionRecord, 'expiresAt'>): Promise<void> {
    const expiresAt = Math.floor(Date.parse(connection.connectedAt) / 1000) + CONNECTION_MAX_SECONDS;
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...connection, expiresAt } }));
  }

  async remove(connectionId: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: { connectionId } }));
  }

  async get(connectionId: string): Promise<ConnectionRecord | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: { connectionId } }));
    return out.Item as ConnectionRecord | undefined;
  }

  /** Tenants with at least one live connection of their service (not a probe's or a restore's; one scan, paginated). */
  async onlineTenants(now = new Date()): Promise<Set<string>> {
    const online = new Set<string>();
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          ExclusiveStartKey: start,
          ProjectionExpression: 'tenantId, expiresAt, #purpose',
          ExpressionAttributeNames: { '#purpose': 'purpose' }, // whatever DynamoDB reserves
        }),
      );
      for (const item of (page.Items ?? []) as Array<Pick<ConnectionRecord, 'tenantId' | 'expiresAt' | 'purpose'>>)
        if (item.expiresAt > now.getTime() / 1000 && item.purpose === undefined) online.add(item.tenantId);
      start = page.LastEvaluatedKey;
    } while (start);
    return online;
  }

  /** The tenant's live connections, newest first. */
  async forTenant(tenantId: string): Promise<ConnectionRecord[]> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: BY_TENANT,
        KeyConditionExpression: 'tenantId = :t',
        ExpressionAttributeValues: { ':t': tenantId },
        ScanIndexForward: false,
      }),
    );
    const now = Date.now() / 1000;
    return ((out.Items ?? []) as ConnectionRecord[]).filter((c) => c.expiresAt > now);
  }
}

/** Nonces seen on $connect, each usable once inside the authentication window. */
export class NonceStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Records the nonce; false when it was seen before (a replay). */
  async useOnce(tenantId: string, nonce: string, expiresAt: number): Promise<boolean> {
    return conditionally(
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { nonce: `${tenantId}#${nonce}`, expiresAt },
          ConditionExpression: 'attribute_not_exists(nonce)',
        }),
      ),
    );
  }
}

export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'SUCCEEDED_WITH_WARNINGS' | 'FAILED';
/** Who asked for a run (the workflow contract's trigger). */
export type { RunTrigger };

export interface RunRecord {
  runId: string;
  tenantId: string;
  status: RunStatus;
  trigger: RunTrigger;
  requestedBy: string;
  reason?: string;
  executionArn: string;
  startedAt: string;
  finishedAt?: string;
  taskToken?: string;
  connectionId?: string;
  progress?: {
    phase: string;
    percent?: number;
    bytesDone?: number;
    bytesPerSecond?: number;
    limitBytesPerSecond?: number | null;
    at: string;
  };
  /** When the run's backup window ends (core/backup-window.ts); absent: no window. */
  windowEndsAt?: string;
  /** How far the archive has come with this run (from its validated manifest): done / total, and what the window's end left pending. */
  archiveProgress?: ArchiveProgress;
  /** The manifest the connector reported (its run's staging copy; it expires with staging). */
  manifest?: ManifestPointer;
  /**
   * The daily manifest finalize wrote after promoting what validated: it names only the kept
   * (validated, promoted) artifacts at their daily-tier versions. What restores, drills and
   * shares read.
   */
  validatedManifest?: ManifestPointer;
  /**
   * What finalize kept: the databases and whether the archive were validated and promoted by this
   * run; `carried`: the parts that failed in this run whose latest validated backup (from an
   * earlier run, `runId`) the daily manifest carries forward (docs/retention.md).
   */
  kept?: { databases: string[]; archive: boolean; carried?: CarriedPart[] };
  /** What the connector could not back up, with why (a database, or the archive). */
  failures?: ArtifactFailure[];
  result?: { outcome: 'succeeded' | 'failed'; error?: WireError; at: string };
  validation?: {
    ok: boolean;
    checkedAt: string;
    checks: number;
    problems: string[];
    /** Each artifact's verdict (a database, or the archive); the first problems of each. */
    artifacts?: Array<{
      kind: 'database' | 'archive';
      name: string;
      ok: boolean;
      problems: string[];
      /** A database backup: what the validation read and proves, and what it leaves to S3's checksum and RESTORE VERIFYONLY. */
      checked?: string;
    }>;
  };
  summary?: Record<string, number | string>;
  /** What must be done so its kept backups restore after a server loss (a TDE certificate never backed up); each names the database. */
  actions?: string[];
  /** Download links handed out for this run (`so-backup share`): who, why, when, until when. */
  shares?: RunShare[];
  /** Restores of this run (`so-connector restore`): who, when. */
  restores?: RunRestore[];
  /** The weekly and monthly copies made of this run: each tier's manifest version. */
  tierCopies?: Array<{ tier: 'weekly' | 'monthly'; manifest: ManifestPointer }>;
  failure?: { error: string; cause: string };
}

/** A part of a daily manifest carried forward from an earlier run because it failed in this one. */
export interface CarriedPart {
  kind: 'database' | 'archive';
  /** The database's name, or "archive". */
  name: string;
  /** The run whose validated backup it is. */
  runId: string;
}

export interface RunShare {
  by: string;
  reason?: string;
  at: string;
  expiresAt: string;
  keys: string[];
}

/**
 * The manifest of what a run kept, validated: the daily manifest finalize wrote (also for a run
 * that FAILED but kept the parts that validated). Runs from before staging kept their manifest
 * at the daily key itself: theirs counts when the run SUCCEEDED and validated. Undefined when
 * the run kept nothing.
 */
export function restorableManifest(run: RunRecord): ManifestPointer | undefined {
  if (run.validatedManifest) return run.validatedManifest;
  return (run.status === 'SUCCEEDED' || run.status === 'SUCCEEDED_WITH_WARNINGS') && run.validation?.ok === true && run.kept === undefined
    ? run.manifest
    : undefined;
}

/** A run with validated parts to restore (see restorableManifest). */
export function isRestorable(run: RunRecord): boolean {
  return restorableManifest(run) !== undefined;
}

/** What a restore needs of a run (protocol `restore-request` `wants`): a database by name, any database, the archive. */
export interface RestoreWants {
  database?: string;
  anyDatabase?: boolean;
  archive?: boolean;
}

/**
 * Whether a restorable run's daily manifest holds what is asked for: a database (by name, or
 * any), and/or the archive — kept by the run, or carried forward from an earlier run because it
 * failed in this one (its latest validated backup). Older runs kept everything they had.
 */
export function runHolds(run: RunRecord, wants: RestoreWants): boolean {
  if (!isRestorable(run)) return false;
  if (!run.kept) return true;
  const carried = run.kept.carried ?? [];
  const databases = [...run.kept.databases, ...carried.filter((p) => p.kind === 'database').map((p) => p.name)];
  return (
    (!wants.archive || run.kept.archive || carried.some((p) => p.kind === 'archive')) &&
    (!wants.anyDatabase || databases.length > 0) &&
    (wants.database === undefined || databases.includes(wants.database))
  );
}

export interface RunRestore {
  /** user@host that ran `so-connector restore`. */
  by: string;
  at: string;
  connectionId: string;
  /** The restore request's id (absent in restores recorded before it was kept): the restore's credential renewals must name it. */
  requestId?: string;
  /** What the restore asked the run to hold (absent: anything restorable, or a restore recorded before it was kept); renewals check it again. */
  wants?: RestoreWants;
}

export class RunStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(runId: string): Promise<RunRecord | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: { runId }, ConsistentRead: true }));
    return out.Item as RunRecord | undefined;
  }

  /** Creates the run; a retry of the same execution finds its own record and keeps it. */
  async create(run: RunRecord): Promise<RunRecord> {
    try {
      await this.db.send(new PutCommand({ TableName: this.table, Item: run, ConditionExpression: 'attribute_not_exists(runId)' }));
      return run;
    } catch (error) {
      if (awsErrorKind(error) !== 'condition-failed') throw error;
      const existing = await this.get(run.runId);
      if (existing?.executionArn === run.executionArn) return existing;
      throw error;
    }
  }

  /** Sets the given fields; never resurrects a run that does not exist. */
  async update(runId: string, fields: Partial<Omit<RunRecord, 'runId'>>): Promise<void> {
    const entries = Object.entries(fields).filter(([, value]) => value !== undefined);
    if (entries.length === 0) return;
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { runId },
        ConditionExpression: 'attribute_exists(runId)',
        UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([name], i) => [`#f${i}`, name])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([, value], i) => [`:v${i}`, value])),
      }),
    );
  }

  /**
   * Ends a run that is still RUNNING (a cancelled run: its execution was stopped, so no failure
   * path of the state machine records it); false when the run ended meanwhile, which is kept.
   */
  async finishIfRunning(runId: string, fields: Pick<RunRecord, 'status' | 'finishedAt' | 'failure'>): Promise<boolean> {
    return conditionally(
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { runId },
          ConditionExpression: '#status = :running',
          UpdateExpression: 'SET #status = :status, finishedAt = :at, failure = :failure',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':running': 'RUNNING',
            ':status': fields.status,
            ':at': fields.finishedAt,
            ':failure': fields.failure,
          },
        }),
      ),
    );
  }

  /** Records the connector's result once; returns false when one was already recorded. */
  async recordResultOnce(runId: string, result: NonNullable<RunRecord['result']>, manifest?: ManifestPointer): Promise<boolean> {
    return conditionally(
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { runId },
          ConditionExpression: 'attribute_exists(runId) AND attribute_not_exists(#result)',
          UpdateExpression: manifest ? 'SET #result = :r, manifest = :m' : 'SET #result = :r',
          ExpressionAttributeNames: { '#result': 'result' },
          ExpressionAttributeValues: manifest ? { ':r': result, ':m': manifest } : { ':r': result },
        }),
      ),
    );
  }

  /** Records a download link handed out for the run. */
  addShare(runId: string, share: RunShare): Promise<void> {
    return this.append(runId, 'shares', share);
  }

  /** Records a restore of the run (read-only credentials were handed to the connector). */
  addRestore(runId: string, restore: RunRestore): Promise<void> {
    return this.append(runId, 'restores', restore);
  }

  private async append(runId: string, field: 'shares' | 'restores', item: RunShare | RunRestore): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { runId },
        ConditionExpression: 'attribute_exists(runId)',
        UpdateExpression: 'SET #list = list_append(if_not_exists(#list, :none), :item)',
        ExpressionAttributeNames: { '#list': field },
        ExpressionAttributeValues: { ':none': [], ':item': [item] },
      }),
    );
  }

  /** The tenant's runs, newest first. */
  async forTenant(tenantId: string, limit = 50, startedAtPrefix?: string): Promise<RunRecord[]> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: BY_TENANT,
        KeyConditionExpression: startedAtPrefix ? 'tenantId = :t AND begins_with(startedAt, :p)' : 'tenantId = :t',
        ExpressionAttributeValues: startedAtPrefix ? { ':t': tenantId, ':p': startedAtPrefix } : { ':t': tenantId },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (out.Items ?? []) as RunRecord[];
  }
}
