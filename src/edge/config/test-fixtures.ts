// For the config's unit tests.
import { ConfigError, parseConfig } from './load.js';

/** What `validate` prints for the file, one line per problem (none for a valid file). */
export function problems(text: string, file = 'gw.yaml'): string[] {
  try {
    parseConfig(text, file);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  return [];
}
