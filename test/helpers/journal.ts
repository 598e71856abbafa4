import { Journal, type JournalRecord } from '../../src/uplink/journal/journal.js';

/**
 * Every record waiting in a stopped gateway's journal, oldest first, as the forwarder hands them to Kafka (the
 * contract's JSON in `value`, whatever format the file stores them in).
 */
export function journalRecords(file: string): JournalRecord[] {
  const journal = new Journal(file);
  try {
    return journal.peek(0, Number.MAX_SAFE_INTEGER);
  } finally {
    journal.close();
  }
}
