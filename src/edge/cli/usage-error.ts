// A command line that cannot be run as typed (a missing --config, a bad --count): `edge-gateway` prints the
// sentence and the usage, and exits 2.
export class UsageError extends Error {}
