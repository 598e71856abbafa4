// Group commit: the messages captured within the commit interval share one transaction, so that an SD card sees
// one write per batch rather than one per message. While the disk refuses writes they wait in memory (bounded)
// and the commit is retried; capture resumes by itself when space returns.
import type { JournalEntry } from './store.js';

/**
 * A commit is made at the end of the event-loop turn in which this many samples came to wait, whatever the
 * commit interval: a commit costs a few pages written whatever it carries, so past this many samples waiting
 * longer saves little wear, and at high rates the commit interval then never adds latency.
 */
export const COMMIT_SAMPLES = 256;
/** Messages that commit at once, in the turn they arrive (a burst of captures). */
const COMMIT_MESSAGES = 1000;
/** Messages held in memory while the disk refuses writes, before the oldest are given up. */
const MAX_QUEUED = 100_000;

export interface JournalProgress {
  commits: number;
  /** Messages queued, not yet committed. */
  waiting: number;
  /** When (ms since the epoch) the oldest message not yet committed was queued; null when none waits. */
  waitingSince: number | null;
  /** When the commit of what waits is due (the oldest message's time plus the commit interval); null when none waits. */
  dueAt: number | null;
  /** True while commits fail with a known error (disk full) and are retried; the messages wait in memory. */
  retrying: boolean;
}

/** The journal's options group commit reads, each time it needs them (the interval can change while it runs). */
export interface CommitOptions {
  commitIntervalMs?: number;
  onWriteError?(err: Error | undefined, failing: boolean): void;
}

/** The queue of captured messages waiting for their commit, and the timers that make it. */
export class GroupCommit {
  private queue: JournalEntry[] = [];
  /** When the oldest message still waiting for its commit was queued; null while nothing waits. */
  private waitingSince: number | null = null;
  /** The commit interval in force when the oldest waiting message was queued. */
  private waitingFor = 0;
  /** Samples in the messages waiting for their commit. */
  private queuedSamples = 0;
  private committedCallbacks: Array<() => void> = [];
  private writeFailing = false;
  private writeErrors = 0;
  /** Messages never given a seq because the disk refused them for too long; counted, never silent. */
  private lostInMemory = 0;
  private flushTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** The pending flush is an immediate one (a birth or death waits). */
  private urgent = false;

  /** `commit` writes a batch in one transaction, and throws when nothing was written. */
  constructor(
    private readonly options: CommitOptions,
    private readonly commit: (entries: readonly JournalEntry[]) => void,
  ) {}

  /**
   * Queues the entry for the next commit: within `commitIntervalMs`, at the end of the turn once COMMIT_SAMPLES
   * samples wait or a birth or death does, and at once at COMMIT_MESSAGES messages. `onCommitted` runs after the
   * commit, in queue order.
   */
  enqueue(entry: JournalEntry, onCommitted?: () => void): void {
    if (this.waitingSince === null) {
      this.waitingSince = Date.now();
      this.waitingFor = this.options.commitIntervalMs ?? 0;
    }
    this.queue.push(entry);
    this.queuedSamples += entry.samples ?? 1;
    if (onCommitted) this.committedCallbacks.push(onCommitted);
    if (this.writeFailing) {
      // The retry timer runs; what arrives meanwhile waits with the rest.
    } else if (this.queue.length >= COMMIT_MESSAGES) {
      this.flush();
    } else if ((entry.type !== 'data' || this.queuedSamples >= COMMIT_SAMPLES) && !this.urgent) {
      // Births and deaths change what host applications see of the session, and enough samples make a commit
      // worth its writes: committed at the end of this turn, with whatever waits, not after the commit interval.
      clearTimeout(this.flushTimer as NodeJS.Timeout);
      clearImmediate(this.flushTimer as NodeJS.Immediate);
      this.urgent = true;
      this.flushTimer = setImmediate(() => this.flush());
    } else if (!this.flushTimer) {
      const interval = this.options.commitIntervalMs ?? 0;
      this.flushTimer = interval > 0 ? setTimeout(() => this.flush(), interval) : setImmediate(() => this.flush());
    }
  }

  /** Commits whatever is queued now. */
  flush(): void {
    this.urgent = false;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer as NodeJS.Timeout);
      clearImmediate(this.flushTimer as NodeJS.Immediate);
      this.flushTimer = undefined;
    }
    if (this.queue.length === 0) return;
    const entries = this.queue;
    const callbacks = this.committedCallbacks;
    try {
      this.commit(entries);
    } catch (err) {
      // Disk full or an I/O error: keep the batch in memory (bounded) and retry; capture resumes by itself.
      if (!this.writeFailing) this.options.onWriteError?.(err as Error, true);
      this.writeFailing = true;
      this.writeErrors += 1;
      const excess = this.queue.length - MAX_QUEUED;
      if (excess > 0) {
        for (const e of this.queue.splice(0, excess)) this.queuedSamples -= e.samples ?? 1;
        this.committedCallbacks.splice(0, Math.max(0, this.committedCallbacks.length - this.queue.length));
        this.lostInMemory += excess;
      }
      this.flushTimer ??= setTimeout(() => this.flush(), 1000);
      return;
    }
    this.queue = [];
    this.queuedSamples = 0;
    this.waitingSince = null;
    this.committedCallbacks = [];
    if (this.writeFailing) this.options.onWriteError?.(undefined, false);
    this.writeFailing = false;
    for (const fn of callbacks) fn();
  }

  /** What waits, for the watchdog: `commits` is the journal's count of transactions since open. */
  progress(commits: number): JournalProgress {
    const dueAt = this.waitingSince === null ? null : this.waitingSince + this.waitingFor;
    return { commits, waiting: this.queue.length, waitingSince: this.waitingSince, dueAt, retrying: this.writeFailing };
  }

  /** Messages waiting for their commit. */
  get queued(): number {
    return this.queue.length;
  }

  /** Commits that failed (each retry of a batch counts). */
  get errors(): number {
    return this.writeErrors;
  }

  /** Messages given up because the disk refused them for too long. */
  get lost(): number {
    return this.lostInMemory;
  }
}
