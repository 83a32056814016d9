// The request log behind GET /__emulator/requests: what was asked and answered, never credentials.

/** An injected fault, or `down`: the request's region was down and its connection dropped. */
export type FaultName = 'rate' | 'reset' | '429' | '500' | '503' | 'lost' | 'hang' | 'drip' | 'down';

export interface LoggedRequest {
  /** ISO time by the emulator's clock. */
  readonly time: string;
  /** `obs` for an OBS call (its Host an OBS name), `iam` for IAM (iam.localhost); absent for IMS. */
  readonly service?: 'obs' | 'iam';
  /** The region of an IMS or OBS call, when the emulator serves several. */
  readonly region?: string;
  /** The bucket of an OBS call: its host's, or the path's first segment in path style. */
  readonly bucket?: string;
  readonly method: string;
  readonly path: string;
  /** The raw query string, without '?'. */
  readonly query: string;
  readonly request_id: string;
  /** The status answered (or, for `lost`, the one that was not delivered); null when none was made. */
  status: number | null;
  fault?: FaultName;
  latency_ms?: number;
  /** The body of a quick import: its JSON, or its text when it is not JSON. */
  body?: unknown;
}

/** Keeps the most recent entries; a long-running emulator drops the oldest beyond the cap. */
export class RequestLog {
  private entries: LoggedRequest[] = [];

  constructor(private readonly cap = 100_000) {}

  add(entry: LoggedRequest): LoggedRequest {
    this.entries.push(entry);
    if (this.entries.length > this.cap) this.entries = this.entries.slice(-this.cap / 2);
    return entry;
  }

  all(): readonly LoggedRequest[] {
    return this.entries;
  }

  clear(): void {
    this.entries = [];
  }
}
