// A configuration that parsed and validated but whose values cannot be used when they are applied: a password file
// or a certificate that cannot be read. Each problem names its key from the file's root, so that the refusal can
// point at FILE:LINE:COL like `validate` does (load.ts, `locateProblems`).

export interface ValueProblem {
  path: (string | number)[];
  message: string;
}

export class ConfigValueError extends Error {
  constructor(readonly problems: ValueProblem[]) {
    super(problems.map((p) => `${dottedPath(p.path)}: ${p.message}`).join('\n'));
    this.name = 'ConfigValueError';
  }
}

/** ['broker', 'users', 2, 'password_file'] → broker.users[2].password_file */
export function dottedPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}
