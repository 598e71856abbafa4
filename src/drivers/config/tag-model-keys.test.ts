import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../edge/config/load.js';
import { tagModelSettings } from '../../edge/tag-model.js';

const config = (device: string, tag = '') => `site: { group: g, node: n }
devices:
  - name: plc
    driver: modbus-tcp
    host: 127.0.0.1
${device}
    tags:
      - { name: t, table: holding, address: 0${tag} }
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 'gw.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('poll and tag model keys', () => {
  it('poll takes a duration or a cron expression (5 fields, or 6 with seconds)', () => {
    expect(parseConfig(config('    poll: 500ms')).devices[0]!.poll).toEqual({ kind: 'interval', ms: 500 });
    expect(parseConfig(config('    poll: 1m')).devices[0]!.poll).toEqual({ kind: 'interval', ms: 60_000 });
    expect(parseConfig(config('    poll: "0 * * * *"')).devices[0]!.poll).toEqual({ kind: 'cron', expression: '0 * * * *' });
    expect(parseConfig(config('    poll: "*/10 * * * * *"')).devices[0]!.poll).toEqual({ kind: 'cron', expression: '*/10 * * * * *' });
    const d = parseConfig(config('    port: 502')).devices[0]!;
    expect([d.poll, d.timeout, d.down_after]).toEqual([{ kind: 'interval', ms: 1000 }, 2000, 3]);
  });

  it('names the key of a poll that is neither, and of a bad timeout or down_after', () => {
    expect(problems(config('    poll: "every hour"'))).toEqual([
      '6:11 devices[0].poll: "every hour" is neither a duration (500ms, 1s, 1m) nor a cron expression ("0 * * * *" for hourly; a sixth field in front counts seconds)',
    ]);
    expect(problems(config('    poll: "0 25 * * *"'))[0]).toMatch(/^6:11 devices\[0\]\.poll: "0 25 \* \* \*" is neither/);
    expect(problems(config('    down_after: 0'))[0]).toMatch(/^6:17 devices\[0\]\.down_after: /);
  });

  it('tags take deadband, deadband_percent and heartbeat; a device takes deadband_percent and heartbeat as defaults', () => {
    const c = parseConfig(config('    deadband_percent: 1\n    heartbeat: 10m', ', deadband: 0.5, heartbeat: 1m'));
    const device = c.devices[0]!;
    const tag = device.tags[0]!;
    expect([tag.deadband, tag.deadband_percent, tag.heartbeat]).toEqual([0.5, undefined, 60_000]);
    expect(tagModelSettings(device, tag)).toEqual({ deadband: 0.5, deadbandPercent: 1, heartbeatMs: 60_000 });
    expect(tagModelSettings(device, { deadband_percent: 0 })).toEqual({ deadband: 0, deadbandPercent: 0, heartbeatMs: 600_000 });
    expect(tagModelSettings({}, {})).toEqual({ deadband: 0, deadbandPercent: 0, heartbeatMs: undefined });
  });

  it('names the key of a bad deadband or heartbeat; an absolute deadband is per tag only', () => {
    expect(problems(config('    port: 502', ', deadband: -1'))).toEqual(['8:58 devices[0].tags[0].deadband: must be 0 (report every change) or more, in engineering units']);
    expect(problems(config('    port: 502', ', deadband_percent: 150'))).toEqual(['8:66 devices[0].tags[0].deadband_percent: must be 0 (off) to 100 percent']);
    expect(problems(config('    heartbeat: often'))).toEqual(['6:16 devices[0].heartbeat: "often" is not a duration (examples: 500ms, 1s, 5m, 2h)']);
    expect(problems(config('    deadband: 1'))).toEqual(['6:5 devices[0].deadband: unknown key "deadband"']);
  });
});
