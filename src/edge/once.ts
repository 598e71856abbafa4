// `edge-gateway once`: poll every device one time and print what came back; publishes and stores nothing.
import { createDriver } from '../drivers/index.js';
import { loadConfig } from './config/load.js';
import { createLogger } from './log.js';

export async function once(file: string, only?: string): Promise<number> {
  const config = loadConfig(file);
  const log = createLogger('warn');
  const devices = config.devices.filter((d) => !only || d.name === only);
  if (only && devices.length === 0) {
    process.stderr.write(`no device named "${only}" in ${file}\n`);
    return 2;
  }
  let failures = 0;
  for (const device of devices) {
    const driver = createDriver(device, { log });
    try {
      await driver.connect();
      const samples = await driver.poll(AbortSignal.timeout(device.timeout));
      process.stdout.write(`${device.name}\n`);
      for (const s of samples) process.stdout.write(`  ${s.tag.padEnd(24)} ${String(s.value).padEnd(16)} ${s.quality}\n`);
    } catch (err) {
      failures += 1;
      process.stdout.write(`${device.name}\n  error: ${(err as Error).message}\n`);
    } finally {
      await driver.close();
    }
  }
  return failures === 0 ? 0 : 1;
}
