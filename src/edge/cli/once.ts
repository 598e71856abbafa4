// `edge-gateway once`: poll every device one time and print every tag with what the device sent (register words
// in hex, the JSON value), the decoded value and its quality, so that a technician can check a register map
// against the PLC's manual. Publishes and stores nothing.
import { pino, type Logger } from 'pino';
import { createDriver, describeTag } from '../../drivers/registry.js';
import type { Driver, RawReading, Sample, TagDescription, TagValue } from '../../drivers/types.js';
import { brokerUrlOf } from '../broker/server.js';
import { readSecret } from '../config/secrets.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { DeviceConfig, GatewayConfig } from '../config/schema.js';

export interface OnceOptions {
  /** Only this device. */
  device?: string;
  /** JSON on stdout instead of a table. */
  json?: boolean;
}

/** One tag as `once` reports it; also the shape of `--json`: where it lives (its driver's describe()), what came. */
export interface TagReport extends Readonly<TagDescription['fields']> {
  name: string;
  /** Modbus: the registers as hex words, or a coil's bit. mqtt-json: the JSON value at the path. */
  raw?: unknown;
  /** The decoded, scaled value; 64-bit integers beyond 2^53 as decimal strings. */
  value: TagValue;
  quality: Sample['quality'];
  problem?: string;
}

/** The ADDRESS column of each tag, as its driver words it (not part of the JSON). */
const whereOf = new WeakMap<TagReport, string>();

export interface DeviceReport {
  name: string;
  driver: string;
  ok: boolean;
  error?: string;
  tags: TagReport[];
}

export async function once(file: string, options: OnceOptions = {}): Promise<number> {
  let config: GatewayConfig;
  try {
    config = loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  const devices = config.devices.filter((d) => options.device === undefined || d.name === options.device);
  if (devices.length === 0) {
    const names = config.devices.map((d) => d.name).join(', ');
    process.stderr.write(options.device === undefined ? `${file} has no devices\n` : `no device named "${options.device}" in ${file}${names ? ` (there are: ${names})` : ''}\n`);
    return 2;
  }
  const log = stderrLogger();
  const reports: DeviceReport[] = [];
  for (const device of devices) reports.push(await readDevice(device, config, log));
  const ok = reports.every((r) => r.ok);
  process.stdout.write(options.json ? `${JSON.stringify({ ok, devices: reports }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n` : formatTable(reports));
  return ok ? 0 : 1;
}

/** Warnings as plain sentences on stderr, so that stdout stays the table or the JSON. */
function stderrLogger(): Logger {
  return pino({ level: 'warn' }, { write: (line: string) => void process.stderr.write(`${(JSON.parse(line) as { msg?: string }).msg ?? line}\n`) });
}

async function readDevice(device: DeviceConfig, config: GatewayConfig, log: Logger): Promise<DeviceReport> {
  const report: DeviceReport = { name: device.name, driver: device.driver, ok: false, tags: [] };
  let driver: Driver;
  try {
    driver = createDriver(device, { log, siteBrokerUrl: brokerUrlOf(config.broker.listen), readSecret });
  } catch (err) {
    report.error = (err as Error).message;
    return report;
  }
  try {
    await driver.connect();
    const samples = driver.listens ? await listen(driver, device) : await driver.poll(AbortSignal.timeout(device.timeout));
    report.tags = samples.map((s) => tagReport(device, s));
    report.ok = true;
  } catch (err) {
    report.error = (err as Error).message;
  } finally {
    await driver.close().catch(() => undefined);
  }
  return report;
}

/**
 * A device that publishes says nothing until it does: wait until every tag has heard from it, or until
 * stale_after (after which the gateway would call the device down).
 */
async function listen(driver: Driver, device: DeviceConfig): Promise<Sample[]> {
  const waitMs = Math.max(device.timeout, 'stale_after' in device ? device.stale_after : 0);
  const end = Date.now() + waitMs;
  let samples = await driver.poll(AbortSignal.timeout(device.timeout));
  if (samples.some((s) => !s.raw)) process.stderr.write(`${device.name}: waiting up to ${Math.round(waitMs / 1000)} s for messages…\n`);
  while (samples.some((s) => !s.raw) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    samples = await driver.poll(AbortSignal.timeout(device.timeout));
  }
  if (samples.every((s) => !s.raw)) {
    const topics = 'topic' in device ? ` on ${device.topic.join(', ')}` : '';
    throw new Error(`device "${device.name}": no message${topics} within ${Math.round(waitMs / 1000)} s`);
  }
  return samples;
}

export function tagReport(device: DeviceConfig, s: Sample): TagReport {
  const { fields, where } = describeTag(device, s);
  const raw = rawOf(s.raw);
  const report: TagReport = { name: s.tag, ...fields, ...(raw === undefined ? {} : { raw }), value: s.value, quality: s.quality, ...(s.problem ? { problem: s.problem } : {}) };
  whereOf.set(report, where);
  return report;
}

function rawOf(raw: RawReading | undefined): unknown {
  if (!raw) return undefined;
  if ('registers' in raw) return raw.registers.map(hexWord);
  if ('bit' in raw) return raw.bit;
  if (raw.text !== undefined) return raw.text;
  return raw.json;
}

/** 0x41C8: four hex digits, upper case, as manuals print them. */
export function hexWord(word: number): string {
  return `0x${word.toString(16).toUpperCase().padStart(4, '0')}`;
}

function formatValue(v: TagValue): string {
  if (v === null) return '-';
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Number(v.toPrecision(10)));
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

function formatRaw(t: TagReport): string {
  if (t.raw === undefined) return '-';
  if (Array.isArray(t.raw) && t.raw.every((w) => typeof w === 'string')) return t.raw.join(' ');
  if (typeof t.raw === 'boolean' && t.table) return t.raw ? '1' : '0';
  const text = JSON.stringify(t.raw);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/** One line per tag: device, tag, where it lives, what the device sent, the value, the quality. */
export function formatTable(reports: readonly DeviceReport[]): string {
  const header = ['DEVICE', 'TAG', 'ADDRESS', 'RAW', 'VALUE', 'QUALITY'];
  const rows: string[][] = [];
  const errors: string[] = [];
  for (const r of reports) {
    for (const t of r.tags) rows.push([r.name, t.name, whereOf.get(t) ?? '', formatRaw(t), formatValue(t.value), t.problem ? `${t.quality}: ${t.problem}` : t.quality]);
    if (r.error) errors.push(`${r.name}: error: ${r.error}`);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = rows.length > 0 ? [line(header), ...rows.map(line)] : [];
  return `${[...out, ...errors].join('\n')}\n`;
}
