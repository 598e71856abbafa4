// A crash loop: the gateway process is SIGKILLed over and over at random moments while five PLCs change every
// poll, sometimes with Kafka stopped so that a backlog builds, and killed again while that backlog drains. In the
// end every edge.seq ever captured is in Kafka: none missing, duplicates only from batches that Kafka acknowledged
// just before a kill or an outage (at most the batches in flight), and a repeated edge.seq always carries the same
// message. On both Kafka clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { runCli } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { consumeAll, startKafka, topicSize, type ConsumedRecord, type KafkaBroker } from './helpers/kafka.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { rng } from './helpers/fuzz.js';

const BATCH_SIZE = 50;
const DEVICES = 5;
const TAGS = 4;
const ROUNDS = 20;
/** Rounds that stop Kafka first: a kill during the outage, then one while the backlog drains. */
const BACKLOG_ROUNDS = new Set([2, 7, 12, 17]);

let kafka: KafkaBroker;
let gateway: GatewayProcess | undefined;
type SimPlc = { port: number; setHolding(addr: number, words: number[]): void; close(): Promise<void> };
let plc: SimPlc | undefined;
let ticker: NodeJS.Timeout | undefined;

beforeAll(async () => {
  kafka = await startKafka();
});

afterAll(async () => {
  clearInterval(ticker);
  await gateway?.kill();
  await plc?.close();
  await kafka?.stop();
});

const prng = (seed: number): (() => number) => rng(seed).next;

/** Batches each client keeps in flight: what one kill or one outage may send twice. */
const IN_FLIGHT = { librdkafka: 4, kafkajs: 1 } as const;

function devicesYaml(plcPort: number, client: keyof typeof IN_FLIGHT, topic: string): string {
  const devices = Array.from({ length: DEVICES }, (_, d) => {
    const tags = Array.from({ length: TAGS }, (_, t) => `      - { name: t${t}, table: holding, address: ${d * TAGS + t}, type: uint16 }`);
    return [`  - name: plc-${d}`, '    driver: modbus-tcp', '    host: 127.0.0.1', `    port: ${plcPort}`, '    poll: 50ms', '    timeout: 2s', '    tags:', ...tags].join('\n');
  });
  return `devices:\n${devices.join('\n')}\nuplink:\n  kafka: { brokers: [${kafka.bootstrap}], topic: ${topic}, batch_size: ${BATCH_SIZE}, client: ${client} }\n`;
}

/** The message without the flag that a resend after a crash may legitimately change. */
const content = (r: ConsumedRecord) => `${r.key} ${r.value.replace('"historical":true', '"historical":false')}`;

interface Kill {
  round: number;
  kind: 'running' | 'outage' | 'drain';
  afterMs: number;
  /** The journal's backlog in the last status read before the kill. */
  backlog: number;
  /** The backlog the next start found. */
  leftInJournal?: number;
}

describe.each(['librdkafka', 'kafkajs'] as const)('crash loop (client %s)', (client) => {
  const TOPIC = `crashloop.telemetry-${client}`;
  afterAll(async () => {
    clearInterval(ticker);
    await gateway?.kill();
    await plc?.close();
    gateway = plc = undefined;
  });

  it('SIGKILL at random moments, with and without Kafka: every edge.seq arrives, duplicates at most a batch per kill', { timeout: 330_000 }, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
    const started = Date.now();

    const sim: SimPlc = await startSimulatedPlc({ port: await freePort() });
    plc = sim;
    let tick = 0;
    // Every register every 50 ms: each poll of each device finds all of its tags changed.
    ticker = setInterval(() => {
      tick += 1;
      sim.setHolding(0, Array.from({ length: DEVICES * TAGS }, (_, i) => (tick * 7 + i) & 0xffff));
    }, 50);

    const g = (gateway = await GatewayProcess.create({ extraYaml: devicesYaml(sim.port, client, TOPIC) }));
    const kills: Kill[] = [];
    let lastStatus: any;
    const readStatus = async () => (lastStatus = await g.status());
    const kill = async (round: number, kind: Kill['kind'], afterMs: number) => {
      await g.kill();
      kills.push({ round, kind, afterMs, backlog: lastStatus?.journal.records ?? -1 });
    };

    await g.start();
    await waitFor('the first records in Kafka', async () => (await readStatus()).uplink.forwarded > 0, 60_000, 100);

    for (let round = 0; round < ROUNDS; round++) {
      if (BACKLOG_ROUNDS.has(round)) {
        await kafka.stop();
        let ms = between(300, 2000);
        await sleep(ms);
        await readStatus();
        await kill(round, 'outage', ms);
        await g.start(); // journals on, Kafka still down: the backlog grows
        await sleep(between(1000, 3000));
        await kafka.start();
        // The drain begins with the forwarder's next retry and takes well under a second: kill soon after it began.
        await waitFor('the backlog to start draining', async () => (await readStatus()).uplink.forwarded > 0, 60_000, 20);
        ms = between(0, 150);
        await sleep(ms);
        await kill(round, 'drain', ms);
        await g.start();
        continue;
      }
      const ms = between(300, 2000);
      await sleep(ms);
      await readStatus().catch(() => undefined);
      await kill(round, 'running', ms);
      await g.start();
    }

    // Let the last run catch up, then stop changing values and let it drain completely.
    await waitFor('the uplink to be up', async () => (await readStatus()).uplink.state === 'up', 60_000, 200);
    clearInterval(ticker);
    await sleep(500);
    await waitFor('the journal to drain', async () => (await readStatus()).journal.records === 0, 90_000, 200);
    const final = await readStatus();
    const highest = final.journal.nextSeq - 1;
    expect(await g.stop()).toBe(0);

    // What each start found in the journal: after a kill during the drain, what was left of the backlog.
    const opened = g
      .logs()
      .split('\n')
      .flatMap((l) => {
        try {
          const line = JSON.parse(l);
          return line.msg === 'Journal open.' ? [line.backlog as number] : [];
        } catch {
          return []; // a line cut short by SIGKILL
        }
      });
    expect(opened).toHaveLength(kills.length + 1);
    kills.forEach((k, i) => (k.leftInJournal = opened[i + 1]!));

    const size = await topicSize(kafka.bootstrap, TOPIC);
    const records = await consumeAll(kafka.bootstrap, TOPIC, { expected: size, timeoutMs: 60_000 });
    expect(records).toHaveLength(size);
    const bySeq = new Map<number, ConsumedRecord[]>();
    for (const r of records) {
      const seq = Number(r.headers['edge.seq']);
      bySeq.set(seq, [...(bySeq.get(seq) ?? []), r]);
    }
    const missing: number[] = [];
    for (let s = 1; s <= highest; s++) if (!bySeq.has(s)) missing.push(s);
    const duplicates = records.length - bySeq.size;
    const duration = Date.now() - started;
    const drainKills = kills.filter((k) => k.kind === 'drain');
    console.log(
      `crash loop, client ${client} (CRASH_SEED=${seed}): ${highest} records captured, ${records.length} in Kafka, ${missing.length} missing, ` +
        `${duplicates} duplicates; ${kills.length} kills (${kills.filter((k) => k.kind === 'outage').length} during a Kafka outage, ` +
        `${drainKills.length} during the drain, backlog ${drainKills.map((k) => `${k.backlog}→${k.leftInJournal}`).join(', ')}); ` +
        `${Math.round(duration / 1000)} s`,
    );

    expect(kills.length).toBeGreaterThanOrEqual(20);
    // The drain kills really landed during a drain: the drain had begun, and records were left for the next run.
    expect(drainKills.filter((k) => k.leftInJournal! > 0).length).toBeGreaterThanOrEqual(1);
    expect(missing).toEqual([]);
    // Each kill, and each outage that failed the batches in flight, may send those batches again.
    expect(duplicates).toBeLessThanOrEqual((kills.length + BACKLOG_ROUNDS.size) * BATCH_SIZE * IN_FLIGHT[client]);
    // The cloud side's own check agrees.
    const verified = runCli(['verify', '--brokers', kafka.bootstrap, '--topic', TOPIC, '--from-beginning', '--idle-ms', '2000', '--json']);
    const report = JSON.parse(verified.stdout);
    expect(report.totals.missing).toBe(0);
    expect(report.totals.duplicates).toBe(duplicates);
    expect(verified.code).toBe(0);
    // A repeated edge.seq is the same message sent again, never a seq handed out twice.
    for (const [seq, copies] of bySeq) {
      expect(new Set(copies.map(content)).size, `edge.seq ${seq}`).toBe(1);
      expect(copies.every((r) => r.headers['edge.node'] === 'test-plant/gw-test')).toBe(true);
    }
    // The orderly stop's NDEATH is the one record above the last status: it reached Kafka before any next start.
    expect([...bySeq.keys()].reduce((m, k) => Math.max(m, k), 0)).toBe(highest + 1);
    expect(JSON.parse(bySeq.get(highest + 1)![0]!.value).type).toBe('death');
    // Every run began with an NBIRTH: one per start, bdSeq counting up.
    const nbirths = records.filter((r) => r.key === 'test-plant/gw-test' && JSON.parse(r.value).type === 'birth');
    expect(new Set(nbirths.map((r) => r.headers['edge.seq'])).size).toBe(kills.length + 1);
  });
});
