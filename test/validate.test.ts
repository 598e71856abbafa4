import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

describe('edge-gateway validate', () => {
  it('accepts the shipped config/gateway.yaml', () => {
    const r = runCli(['validate', '--config', 'config/gateway.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid (1 devices, 2 tags)');
  });

  it('names a typo\'d key at its line and column', () => {
    const r = runCli(['validate', '--config', 'test/configs/typo-key.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('test/configs/typo-key.yaml:11:46 devices[0].tags[0].adress: unknown key "adress"');
    expect(r.stderr).toContain('test/configs/typo-key.yaml:11:9 devices[0].tags[0].address: required key "address" is missing');
  });

  it('names a value of the wrong type at its line and column', () => {
    const r = runCli(['validate', '--config', 'test/configs/wrong-type.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^test\/configs\/wrong-type\.yaml:6:11 devices\[0\]\.port: .*expected number/);
  });

  it('points a bad YAML indent at the mis-indented line', () => {
    const r = runCli(['validate', '--config', 'test/configs/bad-indent.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('test/configs/bad-indent.yaml:5:6 (file): YAML syntax: this line is indented differently from the lines around it');
  });

  it('names a bad redundant MQTT server, and servers that the embedded broker would make pointless', () => {
    const bad = runCli(['validate', '--config', 'test/configs/servers-bad.yaml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('test/configs/servers-bad.yaml:6:46 sparkplug.servers[2]: "mqtt-b" is not HOST:PORT (example: 127.0.0.1:1883)');
    const embedded = runCli(['validate', '--config', 'test/configs/servers-embedded.yaml']);
    expect(embedded.code).toBe(2);
    expect(embedded.stderr.trim()).toMatch(/^test\/configs\/servers-embedded\.yaml:5:12 sparkplug\.servers: .*broker\.embedded: false/);
  });

  it('reports a missing file as a problem with the file, not a crash', () => {
    const r = runCli(['validate', '--config', 'test/configs/no-such-file.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^test\/configs\/no-such-file\.yaml:1:1 \(file\): cannot read the file/);
  });
});
