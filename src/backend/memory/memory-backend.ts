// The embedded in-process result backend (`memory://`): results live in this process's memory, with
// waiters woken as soon as a task reaches a ready state. Expiry follows `resultExpiresSeconds`.
// Records are kept as the Redis backend writes them (Celery's result meta JSON) and read back from it,
// so a result no real backend could store (a circular object) fails here too, and reads match theirs.
import { EventEmitter } from "node:events";
import type { BackendFactory, ResultBackend, WaitOptions } from "../backend.ts";
import { isReady, type ResultRecord } from "../../protocol/result.ts";
import { decodeResultMeta, encodeResultMeta } from "../../protocol/result-meta.ts";
import { parseJson, stringifyJson } from "../../protocol/json.ts";
import { waitForEvent } from "../../util/wait.ts";

export class MemoryBackend implements ResultBackend {
  private readonly records = new Map<string, { meta: string; expiresAt: number }>();
  private readonly readyEvents = new EventEmitter();

  constructor(private readonly resultExpiresSeconds = 86_400) {
    this.readyEvents.setMaxListeners(0);
  }

  async connect(): Promise<void> {}

  /** Rejects with ProtocolError ENCODE_ERROR, storing nothing, when the record cannot be serialized. */
  async store(record: ResultRecord): Promise<void> {
    const ttl = this.resultExpiresSeconds > 0 ? this.resultExpiresSeconds * 1000 : Infinity;
    const meta = stringifyJson(encodeResultMeta(record));
    this.records.set(record.taskId, { meta, expiresAt: Date.now() + ttl });
    if (isReady(record.state)) this.readyEvents.emit(record.taskId, decodeResultMeta(parseJson(meta), record.taskId));
  }

  async storeMany(records: readonly ResultRecord[]): Promise<void> {
    for (const record of records) await this.store(record);
  }

  async get(taskId: string): Promise<ResultRecord | null> {
    const entry = this.records.get(taskId);
    if (!entry) return null;
    if (entry.expiresAt <= Date.now()) {
      this.records.delete(taskId);
      return null;
    }
    return decodeResultMeta(parseJson(entry.meta), taskId);
  }

  async waitForReady(taskId: string, options: WaitOptions = {}): Promise<ResultRecord> {
    // Listen before reading, so a result stored between the two is not missed.
    const stopListening = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stopListening.signal]) : stopListening.signal;
    const announced = waitForEvent<ResultRecord>(this.readyEvents, taskId, {
      timeoutMs: options.timeoutMs,
      signal,
      what: `the result of task ${taskId}`,
    });
    const current = await this.get(taskId);
    if (current && isReady(current.state)) {
      stopListening.abort();
      announced.catch(() => {});
      return current;
    }
    return announced;
  }

  async forget(taskId: string): Promise<void> {
    this.records.delete(taskId);
  }

  async close(): Promise<void> {
    this.readyEvents.removeAllListeners();
  }
}

/** Creates the embedded backend. Example: `createMemoryBackend(3600)` keeps results for an hour. */
export function createMemoryBackend(resultExpiresSeconds?: number): MemoryBackend {
  return new MemoryBackend(resultExpiresSeconds);
}

/** BackendFactory for `memory://` URLs. */
export const createMemoryBackendFromUrl: BackendFactory = (_url, options) => new MemoryBackend(options.resultExpiresSeconds);
