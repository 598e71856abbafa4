// `npm start`: the demo. A simulated PLC on 127.0.0.1:5020 and the gateway on config/gateway.yaml.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startSimulatedPlc } from './sim-plc.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = process.argv[2] ?? 'config/gateway.yaml';
const plc = await startSimulatedPlc({ port: 5020, demo: true });
const gateway = spawn(process.execPath, ['dist/edge/cli.js', 'run', '--config', config], { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => gateway.kill('SIGTERM'));
gateway.on('exit', async (code) => {
  await plc.close();
  process.exit(code ?? 0);
});
