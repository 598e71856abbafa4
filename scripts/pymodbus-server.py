"""A Modbus server for the driver tests, built on pymodbus: the independent side of every test.

It computes register contents from typed values with Python's own struct module (never with the gateway's codec),
serves them over TCP or RTU on a serial port, counts requests, and decodes what a client wrote, again with struct.

    python pymodbus-server.py --spec SPEC.json (--tcp PORT | --serial PATH [--baud 9600 --parity N --stopbits 1 --bytesize 8])

SPEC.json: {"units": {"1": {"values": [VALUE...], "sparse": false, "delay_ms": 0}, ...}}
VALUE:     {"table": "holding"|"input"|"coil"|"discrete", "address": 0, "type": "int16"|...|"string"|"bool",
            "value": ..., "byte_order": "big"|"little", "word_order": "big"|"little", "length": n, "bit": b}
           64-bit integers may be given as decimal strings (JSON numbers lose precision beyond 2^53 in JavaScript).
A unit with "dead": true never answers (pymodbus itself answers an unknown unit id with exception 4). With
"sparse": true only addresses that hold a value exist; every other address answers exception 2 (illegal data
address). "delay_ms" delays every answer of the unit. "max_concurrent" counts how many requests to units with
"watch": true the server had in hand at once: 1 when the client never overlaps them.

Commands, one JSON object per line on stdin, one JSON answer per line on stdout:
    {"cmd": "counts"}                         -> {"requests": {"<unit>": {"<fc>": n}}, "max_concurrent": n,
                                                  "connections": open now, "connects": ever}
    {"cmd": "reset"}                          -> {"ok": true}
    {"cmd": "read", "unit": 1, VALUE fields}  -> {"value": ...}  (64-bit integers as decimal strings)
    {"cmd": "words", "unit": 1, "table": "holding", "address": 0, "count": 2} -> {"words": [...]}
The first line on stdout is {"ready": true, "port": PORT} once the server listens.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import struct
import sys

from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "float32": "f", "float64": "d"}
TABLES = ("coil", "discrete", "holding", "input")
FC_TABLE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 3: "holding", 6: "holding", 16: "holding", 22: "holding", 23: "holding", 4: "input"}
SIZE = 2048  # addresses served per table when not sparse


def swap_bytes(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def to_words(v: dict) -> list[int]:
    """A typed value to registers: struct packs big-endian, then the requested byte and word order are applied."""
    kind = v["type"]
    little_bytes = v.get("byte_order", "big") == "little"
    if kind == "string":
        raw = v["value"].encode("ascii").ljust(2 * v["length"], b"\0")
        words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
        return [swap_bytes(w) for w in words] if little_bytes else words
    value = v["value"]
    value = float(value) if kind.startswith("float") else int(value)
    packed = struct.pack(">" + STRUCT[kind], value)
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]
    if v.get("word_order", "big") == "little":
        words.reverse()
    return [swap_bytes(w) for w in words] if little_bytes else words


def from_words(v: dict, words: list[int]):
    kind = v["type"]
    little_bytes = v.get("byte_order", "big") == "little"
    words = [swap_bytes(w) for w in words] if little_bytes else list(words)
    if kind == "string":
        return b"".join(w.to_bytes(2, "big") for w in words).rstrip(b"\0").decode("ascii")
    if v.get("word_order", "big") == "little":
        words.reverse()
    value = struct.unpack(">" + STRUCT[kind], b"".join(w.to_bytes(2, "big") for w in words))[0]
    return str(value) if kind in ("int64", "uint64") else value


def width(v: dict) -> int:
    if v["type"] == "string":
        return v["length"]
    if v["type"] == "bool":
        return 1
    return struct.calcsize(STRUCT[v["type"]]) // 2


class Unit:
    """One unit's memory, as we know it: the initial values plus every write the server accepted."""

    def __init__(self, uid: int, spec: dict, stats: Stats):
        self.uid = uid
        self.sparse = spec.get("sparse", False)
        self.delay = spec.get("delay_ms", 0) / 1000
        self.dead = spec.get("dead", False)
        self.watch = spec.get("watch", False)
        self.stats = stats
        self.mem: dict[str, dict[int, int | bool]] = {t: {} for t in TABLES}
        for v in spec.get("values", []):
            table, address = v["table"], v["address"]
            if table in ("coil", "discrete"):
                self.mem[table][address] = bool(v["value"])
            elif v["type"] == "bool":
                word = self.mem[table].get(address, 0)
                self.mem[table][address] = word | (1 << v["bit"]) if v["value"] else word & ~(1 << v["bit"])
            else:
                for i, w in enumerate(to_words(v)):
                    self.mem[table][address + i] = w

    def simdata(self, table: str) -> list[SimData]:
        bits = table in ("coil", "discrete")
        cells = self.mem[table]
        if not self.sparse:
            values = [cells.get(a, False if bits else 0) for a in range(SIZE)]
            return [SimData(0, values=[bool(x) for x in values] if bits else values, datatype=DataType.BITS if bits else DataType.REGISTERS)]
        # Sparse: one SimData per run of defined addresses; everything between is invalid (exception 2).
        runs: list[SimData] = []
        addresses = sorted(cells)
        start = None
        for i, a in enumerate(addresses):
            if start is None:
                start = a
            if i + 1 == len(addresses) or addresses[i + 1] != a + 1:
                values = [cells[x] for x in range(start, a + 1)]
                runs.append(SimData(start, values=[bool(x) for x in values] if bits else values, datatype=DataType.BITS if bits else DataType.REGISTERS))
                start = None
        # pymodbus needs every table non-empty; an address far away stands in for "nothing here".
        return runs or [SimData(60000, values=[False] * 16 if bits else [0], datatype=DataType.BITS if bits else DataType.REGISTERS)]

    def device(self) -> SimDevice:
        return SimDevice(
            id=self.uid,
            simdata=tuple(self.simdata(t) for t in TABLES),
            action=functools.partial(on_access, self),
        )


class Stats:
    def __init__(self):
        self.requests: dict[str, dict[str, int]] = {}
        self.in_flight = 0
        self.max_concurrent = 0
        self.connections = 0
        self.connects = 0


def count_request(stats: Stats, sending: bool, pdu):
    """Every request PDU the server receives, by unit and function code (counted before any unit is looked up)."""
    if not sending:
        per_unit = stats.requests.setdefault(str(pdu.dev_id), {})
        per_unit[str(pdu.function_code)] = per_unit.get(str(pdu.function_code), 0) + 1
    return pdu


async def on_access(unit: Unit, func_code, _start, address, _count, _registers, set_values):
    """Every access to a unit's memory: optionally slowed down, and writes mirrored into our memory."""
    if unit.dead:
        await asyncio.Future()  # never answers
    watched = unit.watch
    if watched:
        unit.stats.in_flight += 1
        unit.stats.max_concurrent = max(unit.stats.max_concurrent, unit.stats.in_flight)
    try:
        if unit.delay:
            await asyncio.sleep(unit.delay)
        if set_values is not None:
            table = FC_TABLE[func_code]
            values = set_values if isinstance(set_values, list) else [set_values]
            for i, x in enumerate(values):
                unit.mem[table][address + i] = bool(x) if table == "coil" else int(x)
    finally:
        if watched:
            unit.stats.in_flight -= 1
    return None


def count_connection(stats: Stats, connected: bool):
    stats.connections += 1 if connected else -1
    stats.connects += 1 if connected else 0


def answer(units: dict[int, Unit], stats: Stats, cmd: dict):
    name = cmd.get("cmd")
    if name == "counts":
        return {"requests": stats.requests, "max_concurrent": stats.max_concurrent, "connections": stats.connections, "connects": stats.connects}
    if name == "reset":
        stats.requests.clear()
        stats.max_concurrent = 0
        return {"ok": True}
    unit = units[int(cmd["unit"])]
    cells = unit.mem[cmd["table"]]
    if name == "words":
        return {"words": [cells.get(cmd["address"] + i, 0) for i in range(cmd["count"])]}
    if name == "read":
        if cmd["table"] in ("coil", "discrete"):
            return {"value": bool(cells.get(cmd["address"], False))}
        if cmd["type"] == "bool":
            return {"value": bool((cells.get(cmd["address"], 0) >> cmd["bit"]) & 1)}
        words = [cells.get(cmd["address"] + i, 0) for i in range(width(cmd))]
        return {"value": from_words(cmd, words)}
    return {"error": f"unknown command {name!r}"}


async def commands(units: dict[int, Unit], stats: Stats):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        try:
            reply = answer(units, stats, json.loads(line))
        except Exception as exc:  # a bad command must not kill the server under test
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--tcp", type=int)
    parser.add_argument("--serial")
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--parity", default="N")
    parser.add_argument("--stopbits", type=int, default=1)
    parser.add_argument("--bytesize", type=int, default=8)
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.ERROR)

    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    stats = Stats()
    units = {int(uid): Unit(int(uid), u, stats) for uid, u in spec["units"].items()}
    devices = [u.device() for u in units.values()]
    trace = functools.partial(count_request, stats)
    connect = functools.partial(count_connection, stats)
    if args.tcp is not None:
        server = ModbusTcpServer(devices, address=("127.0.0.1", args.tcp), trace_pdu=trace, trace_connect=connect)
    else:
        server = ModbusSerialServer(devices, port=args.serial, baudrate=args.baud, parity=args.parity, stopbits=args.stopbits, bytesize=args.bytesize, trace_pdu=trace, trace_connect=connect)
    await server.listen()
    print(json.dumps({"ready": True, "port": args.tcp}), flush=True)
    await commands(units, stats)
    await server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
