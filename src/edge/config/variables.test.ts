import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './load.js';

const base = (extra: string) => `site: { group: plant, node: gw }\n${extra}\n`;

describe('${VAR} substitution', () => {
  it('fills values from the environment, with defaults, typed when a plain value is one reference', () => {
    const c = parseConfig(base('data_dir: ${STATE_DIRECTORY:-./data}/journal\nbroker: { listen: "127.0.0.1:${MQTT_PORT}" }\nhttp:\n  listen: ${HTTP_LISTEN:-127.0.0.1:8081}\nsparkplug:\n  aliases: ${ALIASES}\n  hold_max: ${HOLD}'), 'g.yaml', {
      MQTT_PORT: '1884', ALIASES: 'true', HOLD: '500',
    });
    expect(c.data_dir).toBe('./data/journal');
    expect(c.broker.listen).toEqual({ host: '127.0.0.1', port: 1884 });
    expect(c.http.listen).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(c.sparkplug).toMatchObject({ aliases: true, hold_max: 500 });
  });

  it('keeps $${VAR} literally and quoted references as text', () => {
    const c = parseConfig(base('data_dir: "/srv/$${NOT_A_VAR}/${N}"'), 'g.yaml', { N: '7' });
    expect(c.data_dir).toBe('/srv/${NOT_A_VAR}/7');
  });

  it('names the file, line and column of a reference to an unset variable', () => {
    let error: ConfigError | undefined;
    try {
      parseConfig(base('data_dir: ./data\nuplink:\n  kafka: { brokers: ["${KAFKA_BOOTSTRAP}"] }'), 'g.yaml', {});
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).toBe('g.yaml:4:22 uplink.kafka.brokers[0]: environment variable "KAFKA_BOOTSTRAP" is not set (write ${KAFKA_BOOTSTRAP:-default} to give a default)');
  });
});
