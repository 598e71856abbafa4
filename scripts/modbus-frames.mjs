// A bare Modbus TCP server for the benches: MBAP framing on 127.0.0.1, the PDU of each answer from `answer`
// (the request's PDU in, the answer's PDU out), answered at once in the same turn.
import { createServer } from 'node:net';

export async function serveModbusTcp(answer) {
  const sockets = new Set();
  const frame = (req) => {
    const pdu = answer(req.subarray(7));
    const head = Buffer.alloc(7);
    req.copy(head, 0, 0, 4); // transaction id, protocol id
    head.writeUInt16BE(pdu.length + 1, 4);
    head[6] = req[6]; // unit id
    return Buffer.concat([head, pdu]);
  };
  const server = createServer((sock) => {
    sock.setNoDelay(true);
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
        const len = 6 + buf.readUInt16BE(4);
        sock.write(frame(buf.subarray(0, len)));
        buf = buf.subarray(len);
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
