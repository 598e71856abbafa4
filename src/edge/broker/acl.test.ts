import { describe, expect, it } from 'vitest';
import { edgeNodeRights, filterCovers, filterProblem, isSparkplugCommand, mayPublish, mayReceive, maySubscribe, missingEdgeNodeRights, topicMatches } from './acl.js';

describe('topic filters', () => {
  it('matches MQTT wildcards as the standard says', () => {
    expect(topicMatches('spBv1.0/#', 'spBv1.0/g/NBIRTH/n')).toBe(true);
    expect(topicMatches('spBv1.0/#', 'spBv1.0')).toBe(true); // '#' also matches the parent level [MQTT-4.7.1-2]
    expect(topicMatches('spBv1.0/+/NBIRTH/+', 'spBv1.0/g/NBIRTH/n')).toBe(true);
    expect(topicMatches('spBv1.0/+/NBIRTH/+', 'spBv1.0/g/NBIRTH/n/d')).toBe(false);
    expect(topicMatches('spBv1.0/+', 'spBv1.0')).toBe(false);
    expect(topicMatches('a/b', 'a/b')).toBe(true);
    expect(topicMatches('a/b', 'a/B')).toBe(false);
    expect(topicMatches('#', '$SYS/broker')).toBe(false); // [MQTT-4.7.2-1]
    expect(topicMatches('+/broker', '$SYS/broker')).toBe(false);
    expect(topicMatches('$SYS/#', '$SYS/broker')).toBe(true);
  });

  it('says what is wrong with a filter', () => {
    expect(filterProblem('a/#')).toBeUndefined();
    expect(filterProblem('+/+/x')).toBeUndefined();
    expect(filterProblem('a/#/b')).toContain('"#" must stand alone as the last level');
    expect(filterProblem('a#')).toContain('"#"');
    expect(filterProblem('a/b+')).toContain('"+" must stand alone');
    expect(filterProblem('')).toBe('an empty topic filter');
  });

  it('grants a subscription only when the allowed filter covers everything it can match', () => {
    expect(filterCovers('spBv1.0/#', 'spBv1.0/+/NBIRTH/#')).toBe(true);
    expect(filterCovers('spBv1.0/#', '#')).toBe(false);
    expect(filterCovers('spBv1.0/+/NBIRTH/#', 'spBv1.0/#')).toBe(false);
    expect(filterCovers('spBv1.0/+/NBIRTH/#', 'spBv1.0/g/NBIRTH/n')).toBe(true);
    expect(filterCovers('spBv1.0/g/+/n', 'spBv1.0/+/NDATA/n')).toBe(false);
    expect(filterCovers('a/+', 'a/+')).toBe(true);
    expect(filterCovers('a/b', 'a/+')).toBe(false);
    expect(filterCovers('#', '$SYS/#')).toBe(false);
  });
});

describe('rights', () => {
  const hmi = { publish: ['spBv1.0/#'], subscribe: ['spBv1.0/#'], command: false };
  const scada = { publish: [], subscribe: ['spBv1.0/#'], command: true };

  it('Sparkplug commands need the command right, whatever publish says', () => {
    expect(isSparkplugCommand('spBv1.0/g/NCMD/n')).toBe(true);
    expect(isSparkplugCommand('spBv1.0/g/DCMD/n/d')).toBe(true);
    expect(isSparkplugCommand('spBv1.0/g/NDATA/n')).toBe(false);
    expect(isSparkplugCommand('other/g/NCMD/n')).toBe(false);
    expect(mayPublish(hmi, 'spBv1.0/g/NCMD/n')).toBe(false);
    expect(mayPublish(hmi, 'spBv1.0/g/DCMD/n/d')).toBe(false);
    expect(mayPublish(hmi, 'spBv1.0/STATE/scada')).toBe(true);
    expect(mayPublish(scada, 'spBv1.0/g/DCMD/n/d')).toBe(true);
    expect(mayPublish(scada, 'spBv1.0/STATE/scada')).toBe(false);
    expect(maySubscribe(scada, 'spBv1.0/g/#')).toBe(true);
    expect(maySubscribe(scada, '#')).toBe(false);
  });

  it('a message is delivered only within the subscribe rights, also through an older, wider subscription', () => {
    const narrowed = { publish: [], subscribe: ['spBv1.0/plant/#'], command: false };
    expect(mayReceive(narrowed, 'spBv1.0/plant/NBIRTH/n')).toBe(true);
    expect(mayReceive(narrowed, 'spBv1.0/other/NBIRTH/n')).toBe(false);
    expect(mayReceive({ publish: [], subscribe: ['#'], command: true }, '$SYS/broker/uptime')).toBe(false);
    // Whatever maySubscribe granted, mayReceive lets through.
    expect(maySubscribe(scada, 'spBv1.0/+/NBIRTH/#') && mayReceive(scada, 'spBv1.0/g/NBIRTH/n')).toBe(true);
  });

  it('the edge node may publish its own messages and read its commands, nothing else', () => {
    const node = edgeNodeRights('g', 'n');
    for (const t of ['spBv1.0/g/NBIRTH/n', 'spBv1.0/g/NDEATH/n', 'spBv1.0/g/DBIRTH/n/d', 'spBv1.0/g/DDATA/n/d', 'spBv1.0/g/DDEATH/n/d']) expect(mayPublish(node, t)).toBe(true);
    for (const t of ['spBv1.0/g/NCMD/n', 'spBv1.0/g/DCMD/n/d', 'spBv1.0/g/NBIRTH/other', 'spBv1.0/h/NBIRTH/n', 'spBv1.0/STATE/h']) expect(mayPublish(node, t)).toBe(false);
    for (const f of ['spBv1.0/g/NCMD/n', 'spBv1.0/g/DCMD/n/+', 'spBv1.0/STATE/host']) expect(maySubscribe(node, f)).toBe(true);
    expect(maySubscribe(node, 'spBv1.0/#')).toBe(false);
    expect(missingEdgeNodeRights(node, 'g', 'n')).toEqual([]);
    expect(missingEdgeNodeRights({ publish: ['spBv1.0/g/+/n'], subscribe: [], command: false }, 'g', 'n')).toEqual([
      'publish spBv1.0/g/DBIRTH/n/<device>', 'publish spBv1.0/g/DDATA/n/<device>', 'publish spBv1.0/g/DDEATH/n/<device>',
      'subscribe spBv1.0/g/NCMD/n', 'subscribe spBv1.0/g/DCMD/n/+',
    ]);
  });
});
