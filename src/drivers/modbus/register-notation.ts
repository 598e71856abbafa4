// The 1-based register numbers of PLC manuals ("40001"), turned into a table and a zero-based address.
// Pure, so that the config schema can use it: 40001 is holding register 0, 30001 input 0, 10001 discrete 0, 1 coil 0.
/** Modbus's four tables: coils and discrete inputs hold bits, input and holding registers 16-bit words. */
export const MODBUS_TABLES = ['coil', 'discrete', 'input', 'holding'] as const;
export type ModbusTable = (typeof MODBUS_TABLES)[number];

export interface RegisterRef {
  table: ModbusTable;
  address: number;
}

const PREFIX: Record<string, ModbusTable> = { '0': 'coil', '1': 'discrete', '3': 'input', '4': 'holding' };

export const NOTATION_HINT =
  'expected a 1-based register number: 40001… (holding), 30001… (input), 10001… (discrete input), 1… (coil), ' +
  'or the 6-digit form 400001…465536';

/**
 * `40001` → holding 0, `49999` → holding 9998, `400001` → holding 0, `465536` → holding 65535, `1` or "00001" → coil 0.
 * A number of 100001 or more is the 6-digit form; a 6-digit coil number ("012345") has a leading zero and so
 * must be quoted. Returns an error message instead of throwing, for the schema.
 */
export function parseRegisterNumber(value: number | string): RegisterRef | string {
  const text = typeof value === 'number' ? (Number.isInteger(value) && value >= 0 ? String(value) : '') : value.trim();
  if (!/^\d{1,6}$/.test(text)) return `${JSON.stringify(value)} is not a register number: ${NOTATION_HINT}`;
  const digits = text.length === 6 ? text : text.padStart(5, '0');
  const table = PREFIX[digits[0]!];
  const number = Number(digits.slice(1));
  const max = digits.length === 6 ? 65536 : 9999;
  if (!table || number < 1 || number > max) {
    return `${JSON.stringify(value)} is not a register number: ${NOTATION_HINT}`;
  }
  return { table, address: number - 1 };
}

const FIRST_DIGIT: Record<ModbusTable, string> = { coil: '0', discrete: '1', input: '3', holding: '4' };

/**
 * The inverse of parseRegisterNumber, for people comparing with a manual: holding 0 → "40001", coil 0 → "00001",
 * holding 9999 and above → the 6-digit form ("410000").
 */
export function formatRegisterNumber(table: ModbusTable, address: number): string {
  const n = address + 1;
  return n <= 9999 ? `${FIRST_DIGIT[table]}${String(n).padStart(4, '0')}` : `${FIRST_DIGIT[table]}${String(n).padStart(5, '0')}`;
}
